"""Which questions each round asks: one seeded permutation of the pool, cut into consecutive batches, so no round
repeats another's questions and a resumed flywheel asks exactly what an uninterrupted one would."""

from __future__ import annotations

import hashlib
from pathlib import Path


def pool(world: Path, split: str) -> list[str]:
    """The split's question ids (splits.json), in the file's order."""
    from lrat.evaluation.offline import read_split

    return read_split(world, split)


def permuted(qids: list[str], seed: int) -> list[str]:
    return sorted(qids, key=lambda q: (hashlib.sha256(f"{seed}:flywheel:{q}".encode()).hexdigest(), q))


def round_questions(qids: list[str], seed: int, per_round: int, n: int) -> list[str]:
    """Round ``n``'s (1-based) batch; a ValueError saying what to change when the pool runs out."""
    if n * per_round > len(qids):
        raise ValueError(f"round {n} needs {n * per_round} fresh questions ({per_round} per round) but the pool holds "
                         f"{len(qids)}: lower flywheel.questions_per_round to at most {len(qids) // n}, or generate "
                         "a world with more questions (world.n_questions)")
    return permuted(qids, seed)[(n - 1) * per_round: n * per_round]
