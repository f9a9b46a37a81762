"""Offline retriever evaluation (method §7): recall@k, nDCG@10 and MRR@10 of the gold evidence for held-out
questions, every model searching the whole corpus exactly (FAISS flat index), scored as ranx scores
(`lrat.evaluation.metrics`), and a paired significance test of every model against the baseline.

The world files are the benchmark's own (BrowseComp-Plus layout): corpus.jsonl, queries.tsv, qrel_evidence.txt,
splits.json. Torch, sentence-transformers, FAISS and scipy load inside the functions.
"""

from __future__ import annotations

import hashlib
import math
import re
from pathlib import Path
from typing import Any

import numpy as np

from lrat.benchmark import Benchmark, as_benchmark, read_splits
from lrat.settings import Prefixes

METRICS = ("recall@10", "recall@100", "ndcg@10", "mrr@10")
DEPTH = 100  # every model retrieves this many documents per question
ALPHA = 0.05
BASELINE = "base"
WORLD_FILES = ("corpus.jsonl", "queries.tsv", "qrel_evidence.txt", "splits.json")
# keys of the "significance" object beside the per-model entries; no model may take these names
RESERVED = frozenset({"test", "alpha", "baseline", "oracle"})  # oracle: the agent-level ceiling row name
NAME = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]*")  # also a folder name for the agent's run files


# inputs ----------------------------------------------------------------------------------------------------------


def parse_models(pairs: list[str]) -> dict[str, str]:
    """``["base=base", "lrat=models/lrat"]`` → ``{"base": "base", "lrat": "models/lrat"}``; a bare spec is named
    by itself ('base') or its last path part."""
    models: dict[str, str] = {}
    for pair in pairs:
        name, sep, spec = pair.partition("=")
        if not sep:
            spec = pair
            name = "base" if pair == "base" else Path(pair.rstrip("/")).name or pair
        name, spec = name.strip(), spec.strip()
        if not name or not spec:
            raise ValueError(f"--model {pair!r}: expected NAME=SPEC, e.g. lrat=models/lrat")
        if name in models:
            raise ValueError(f"--model {pair!r}: the name {name!r} is given twice")
        models[name] = spec
    return check_models(models)


def check_models(models: dict[str, str]) -> dict[str, str]:
    """Fail before any model loads: every spec must be 'base', an MLflow model URI or an existing folder."""
    if not models:
        raise ValueError("no models to evaluate (give --model NAME=SPEC)")
    for name, spec in models.items():
        if not NAME.fullmatch(name):
            raise ValueError(f"model name {name!r}: use letters, digits, '_', '-' or '.'")
        if name in RESERVED:
            raise ValueError(f"model name {name!r} is reserved ({', '.join(sorted(RESERVED))}); choose another")
        if spec == "base" or spec.startswith(("models:/", "runs:/")):
            continue
        if not Path(spec).is_dir():
            raise FileNotFoundError(f"model {name!r}: {spec!r} is not 'base', an MLflow model URI (models:/..., "
                                    "runs:/...) or a model folder")
    return models


def check_world(world: Benchmark | Path, files: tuple[str, ...] = WORLD_FILES) -> None:
    """Every benchmark file there before any model loads; a world folder that is missing says how to make one."""
    bench = as_benchmark(world)
    if not isinstance(world, Benchmark) and not Path(world).is_dir():
        raise FileNotFoundError(f"world folder {world} not found: run `lrat simulate world --out {world}` or point "
                                "--world at a benchmark folder")
    paths = bench.files()
    missing = [str(paths[name]) for name in files if not paths[name].is_file()]
    if missing:
        hint = (f" ({bench.splits}: run `lrat split`, the `split` stage of `dvc repro`)"
                if str(bench.splits) in missing and isinstance(world, Benchmark) else "")
        raise FileNotFoundError(f"benchmark file(s) not found: {', '.join(missing)}{hint}")


def benchmark_sha256(world: Benchmark | Path, files: tuple[str, ...] = WORLD_FILES) -> str:
    """Which questions a number comes from: one hash over the benchmark's corpus, queries, qrels and splits."""
    from lrat.io import file_sha256

    paths = as_benchmark(world).files()
    digest = hashlib.sha256()
    for name in files:
        digest.update(f"{name}:{file_sha256(paths[name])}\n".encode())
    return digest.hexdigest()


def read_split(world: Benchmark | Path, split: str) -> list[str]:
    path = as_benchmark(world).splits
    splits = read_splits(path)
    if split not in splits:
        raise ValueError(f"unknown split {split!r} ({path} has: {', '.join(sorted(splits)) or 'none'})")
    qids = splits[split]
    if not qids:
        raise ValueError(f"split {split!r} of {path} has no questions: nothing to evaluate on (`lrat split` with a "
                         "larger split.test, or a benchmark with more questions)")
    return qids


def read_queries(path: Path) -> dict[str, str]:
    queries: dict[str, str] = {}
    with path.open(encoding="utf-8") as handle:
        for number, line in enumerate(handle, start=1):
            line = line.rstrip("\n")
            if not line.strip():
                continue
            qid, sep, text = line.partition("\t")
            if not sep:
                raise ValueError(f"{path}:{number}: expected 'qid<TAB>query'")
            queries[qid.strip()] = text
    return queries


def read_qrels(path: Path) -> dict[str, dict[str, int]]:
    """TREC qrels ``qid 0 docid rel``; only positive relevance counts."""
    qrels: dict[str, dict[str, int]] = {}
    with path.open(encoding="utf-8") as handle:
        for number, line in enumerate(handle, start=1):
            parts = line.split()
            if not parts:
                continue
            try:
                qid, _, docid, rel = parts
                level = int(rel)
            except ValueError:
                raise ValueError(f"{path}:{number}: expected 'qid 0 docid relevance'") from None
            if level > 0:
                qrels.setdefault(qid, {})[docid] = level
    return qrels


def split_questions(world: Benchmark | Path, split: str) -> tuple[dict[str, str], dict[str, dict[str, int]]]:
    """The split's question texts and evidence qrels, in splits.json order; questions without evidence are left out
    (no recall to measure)."""
    bench = as_benchmark(world)
    check_world(world)
    qids = read_split(bench, split)
    queries = read_queries(bench.queries)
    missing = [q for q in qids if q not in queries]
    if missing:
        raise ValueError(f"{len(missing)} of {len(qids)} {split} question(s) of {bench.splits} are not in "
                         f"{bench.queries}, e.g. {', '.join(repr(q) for q in missing[:5])}: splits for another "
                         "benchmark?")
    qrels = read_qrels(bench.qrels_evidence)
    kept = [q for q in qids if qrels.get(q)]
    if not kept:
        raise ValueError(f"no {split} question has evidence in {bench.qrels_evidence} ({len(qids)} questions, "
                         f"e.g. {', '.join(repr(q) for q in qids[:5])}): qrels for another benchmark?")
    return {q: queries[q] for q in kept}, {q: qrels[q] for q in kept}


# scoring ---------------------------------------------------------------------------------------------------------


def ranked_run(ranking: dict[str, list[str]]) -> dict[str, dict[str, float]]:
    """Ranked docids → ranx run scores that keep the retriever's order exactly (ranx would re-break score ties); for
    comparing with ranx itself (tests, benches/bench_metrics.py)."""
    return {q: {d: float(len(docids) - rank) for rank, d in enumerate(docids)} for q, docids in ranking.items()}


def _round(value: float, digits: int = 4) -> float:
    return round(float(value), digits)


def _p_value(value: float) -> float:
    """4 significant digits; a t-test on identical scores has no p-value (nan): no difference, p = 1."""
    value = float(value)
    return 1.0 if math.isnan(value) else float(f"{value:.4g}")


def score_runs(qrels: dict[str, dict[str, int]], rankings: dict[str, dict[str, list[str]]],
               baseline: str | None = None, metrics: tuple[str, ...] = METRICS,
               alpha: float = ALPHA) -> tuple[dict[str, dict[str, float]], dict[str, Any]]:
    """Mean metrics per model, and each model's paired test against ``baseline`` (default: 'base' if present,
    else the first model). ``rankings``: model → qid → ranked docids, best first. The numbers are ranx's
    (`lrat.evaluation.metrics`)."""
    from lrat.evaluation.metrics import paired_p_value, parse_metric, per_query

    for metric in metrics:
        parse_metric(metric)
    names = list(rankings)
    baseline = baseline or (BASELINE if BASELINE in rankings else names[0])
    scores = {name: {m: per_query(m, qrels, rankings[name]) for m in metrics} for name in names}
    means = {name: {m: _round(np.mean(scores[name][m])) for m in metrics} for name in names}
    significance: dict[str, Any] = {"test": "paired two-sided Student's t-test (ranx student)", "alpha": alpha,
                                    "baseline": baseline}
    for name in names:
        if name == baseline:
            continue
        significance[name] = {}
        for m in metrics:
            p = _p_value(paired_p_value(scores[baseline][m], scores[name][m]))
            significance[name][m] = {"p_value": p, "significant": bool(p <= alpha)}
    return means, significance


# retrieval -------------------------------------------------------------------------------------------------------


def rank_questions(spec: str, world: Benchmark | Path, queries: dict[str, str], cache_dir: Path | None,
                   prefixes: Prefixes = Prefixes(), progress: bool = True, depth: int = DEPTH, workers: int = 1,
                   devices: list[str] | None = None) -> dict[str, list[str]]:
    """One model's top-``depth`` docids per question, exact search over the whole corpus (cached corpus vectors;
    an uncached corpus is encoded by ``workers`` processes, the same vectors as one)."""
    from lrat.retrieval.local import LocalRetriever

    retriever = LocalRetriever.build(spec, as_benchmark(world).corpus, cache_dir, prefixes, progress=progress,
                                     workers=workers, devices=devices)
    qids = list(queries)
    hits = retriever.search_batch([queries[q] for q in qids], depth)
    retriever.save_query_cache()
    return {q: [h.docid for h in row] for q, row in zip(qids, hits, strict=True)}


def evaluate_offline(models: dict[str, str], world: Benchmark | Path, split: str = "test",
                     cache_dir: Path | None = None, prefixes: Prefixes = Prefixes(), progress: bool = True,
                     workers: int = 1, devices: list[str] | None = None) -> dict[str, Any]:
    """``{"split", "n_queries", "depth", "models": {name: {metric: mean}}, "significance": {...}}`` for
    ``models`` (name → 'base' | model folder | MLflow URI). Writes nothing but cache entries."""
    check_models(models)
    queries, qrels = split_questions(world, split)
    rankings: dict[str, dict[str, list[str]]] = {}
    bar = None
    if progress:
        from tqdm import tqdm

        bar = tqdm(total=len(models), desc=f"retrieval on {split}", unit="model")
    try:
        for name, spec in models.items():
            if bar is not None:
                bar.set_postfix_str(name)
            rankings[name] = rank_questions(spec, world, queries, cache_dir, prefixes, progress, workers=workers,
                                            devices=devices)
            if bar is not None:
                bar.update(1)
    finally:
        if bar is not None:
            bar.close()
    means, significance = score_runs(qrels, rankings)
    return {"split": split, "n_queries": len(queries), "depth": DEPTH, "models": means, "significance": significance}
