"""The calibrated simulator must keep depending on its retriever (issue 13): with the agent settings of params.yaml
on a small world, a perfect retriever helps the agent clearly, and a worse one clearly hurts it."""

from __future__ import annotations

import random
import zlib
from pathlib import Path

import pytest

from lrat.retrieval.base import Hit, Retriever
from lrat.settings import load_settings
from lrat.simulate.driver import simulate
from lrat.simulate.oracle import OracleRetriever
from lrat.simulate.world import generate_world

PARAMS = Path(__file__).resolve().parents[2] / "params.yaml"


class DeeperShuffled:
    """A deliberately weakened retriever: k results drawn from the inner retriever's top 3k, so the best pages
    are often pushed out of what the agent sees (deterministic per query)."""

    def __init__(self, inner: Retriever) -> None:
        self.inner, self.name = inner, f"deeper-shuffled({inner.name})"

    def search_batch(self, queries: list[str], k: int = 10) -> list[list[Hit]]:
        out = []
        for query, hits in zip(queries, self.inner.search_batch(queries, 3 * k), strict=True):
            out.append(random.Random(zlib.crc32(query.encode())).sample(hits, min(k, len(hits))))
        return out

    def search(self, query: str, k: int = 10) -> list[Hit]:
        return self.search_batch([query], k)[0]

    def get_document(self, docid: str) -> str | None:
        return self.inner.get_document(docid)


@pytest.mark.slow
def test_success_orders_oracle_above_base_above_a_weakened_retriever(tmp_path: Path) -> None:
    from lrat.retrieval.local import LocalRetriever
    from lrat.simulate.export import write_world

    values = load_settings(PARAMS)
    world_params = values.world
    w = generate_world(values.seed, n_docs=800, n_questions=240, name_rate=world_params.name_rate,
                       hops=(world_params.min_hops, world_params.max_hops))
    write_world(w, tmp_path / "world")
    cfg = values.agent
    base = LocalRetriever.build("base", tmp_path / "world" / "corpus.jsonl", None, progress=False)
    success = {}
    for name, retriever in (("oracle", OracleRetriever(base, w)), ("base", base), ("weak", DeeperShuffled(base))):
        runs = [simulate(w, w.questions, retriever, cfg, seed, tmp_path / f"{name}-{seed}") for seed in (1, 2)]
        success[name] = sum(r["success"] for r in runs) / len(runs)
    # 480 runs per retriever: a gap of 0.05 is about 2.5 standard errors of a difference in success rates
    assert success["oracle"] - success["base"] >= 0.05, success
    assert success["base"] - success["weak"] >= 0.05, success
