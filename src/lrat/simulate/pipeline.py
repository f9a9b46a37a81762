"""The two simulation stages as plain functions: `build_world` (stage `world`) and `run_agents` (stage
`trajectories`). The CLI only parses flags and calls these."""

from __future__ import annotations

import statistics
from pathlib import Path
from typing import Any

from lrat.io import write_json
from lrat.progress import progress_bar
from lrat.settings import Encoding
from lrat.settings import World as WorldSettings
from lrat.simulate.agent import AgentConfig
from lrat.simulate.export import world_stats, write_world
from lrat.simulate.store import load_world, save_state
from lrat.simulate.world import World, generate_world

SPLITS = ("train", "dev", "test")


def open_retriever(spec: str, corpus: Path, cache_dir: Path | None, world: World | None = None,
                   encoding: Encoding = Encoding(), progress: bool = True) -> Any:
    """``base`` | ``org/name[@rev]`` | a model folder | an MLflow model URI | ``http(s)://`` service | ``oracle``
    (needs the world)."""
    if spec.startswith(("http://", "https://")):
        from lrat.retrieval.http import HttpRetriever

        return HttpRetriever(spec)
    from lrat.retrieval.local import LocalRetriever

    if spec == "oracle":
        from lrat.simulate.oracle import OracleRetriever

        if world is None:
            raise ValueError("the oracle retriever needs the world")
        return OracleRetriever(LocalRetriever.build("base", corpus, cache_dir, progress=progress), world)
    return LocalRetriever.build(spec, corpus, cache_dir, encoding, progress=progress)


def evidence_recall(retriever: Any, world: World, split: str, ks: tuple[int, ...] = (10, 100)) -> dict[str, Any]:
    questions = [q for q in world.questions if q.split == split]
    if not questions:
        return {}
    ranked = retriever.search_batch([q.text for q in questions], max(ks))
    out: dict[str, Any] = {"split": split, "n_queries": len(questions)}
    for k in ks:
        out[f"recall@{k}"] = round(statistics.mean(
            len({h.docid for h in hits[:k]} & set(q.evidence)) / len(q.evidence)
            for q, hits in zip(questions, ranked, strict=True)), 4)
    return out


def build_world(out: Path, seed: int, sizes: WorldSettings, metrics: Path | None, cache_dir: Path | None,
                retriever: str = "base", progress: bool = True) -> dict[str, Any]:
    world = generate_world(
        seed, n_docs=int(sizes.n_docs), n_questions=int(sizes.n_questions),
        hops=(int(sizes.min_hops), int(sizes.max_hops)), background_share=float(sizes.background_share),
        split=tuple(sizes.split), name_rate=float(sizes.name_rate),
    )
    write_world(world, out)
    save_state(world, out)
    stats: dict[str, Any] = {"seed": seed, **world_stats(world)}
    if retriever:
        engine = open_retriever(retriever, out / "corpus.jsonl", cache_dir, world, progress=progress)
        # all splits: the agent's first query is the question itself, so this also warms its query cache
        stats["base_retriever"] = {"model": retriever, **{s: evidence_recall(engine, world, s) for s in SPLITS}}
        if hasattr(engine, "save_query_cache"):
            engine.save_query_cache()
    if metrics is not None:
        write_json(metrics, stats)
    return stats


def run_agents(world_dir: Path, split: str, retriever: str, out: Path, seed: int, cfg: AgentConfig,
               metrics: Path | None, cache_dir: Path | None, limit: int | None = None,
               progress: bool = True, encoding: Encoding = Encoding()) -> dict[str, Any]:
    from lrat.simulate.driver import simulate

    world = load_world(world_dir)
    questions = [q for q in world.questions if split in ("all", q.split)][: limit or None]
    if not questions:
        raise ValueError(f"no questions in split {split!r} (choose train, dev, test or all)")
    engine = open_retriever(retriever, world_dir / "corpus.jsonl", cache_dir, world, encoding, progress=progress)
    held_out = None if split in ("test", "all") else {d for q in world.questions if q.split == "test"
                                                         for d in q.evidence}
    with progress_bar(len(questions), f"agents on {split}", enabled=progress) as update:
        summary = simulate(world, questions, engine, cfg, seed, out, update, held_out)
    if hasattr(engine, "save_query_cache"):
        engine.save_query_cache()
    summary = {"split": split, "retriever": engine.name, "seed": seed, **summary}
    if metrics is not None:
        write_json(metrics, summary)
    return summary
