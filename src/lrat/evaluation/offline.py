"""Offline retriever evaluation (method §7): recall@5/10/100/1000, nDCG@10 and MRR@10 of the evidence for
held-out questions, every model searching the whole corpus exactly (FAISS flat index, top 1000), scored as ranx
scores (`lrat.evaluation.metrics`), and a paired significance test of every model against the baseline; the same
on the gold qrels when the benchmark has them (BrowseComp-Plus scores retrievers on both).

The world files are the benchmark's own (BrowseComp-Plus layout): corpus.jsonl, queries.tsv, qrel_evidence.txt,
splits.json, and qrel_golds.txt when there is one. `evaluate_runs` scores TREC run files (`lrat.evaluation.trec`)
the same way, without any model. Torch, sentence-transformers, FAISS and scipy load inside the functions.
"""

from __future__ import annotations

import hashlib
import math
import re
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from lrat.benchmark import Benchmark, as_benchmark, read_splits
from lrat.settings import Encoding

if TYPE_CHECKING:
    from lrat.retrieval.base import Hit

METRICS = ("recall@5", "recall@10", "recall@100", "recall@1000", "ndcg@10", "mrr@10")
DEPTH = 1000  # every model retrieves this many documents per question (all of a smaller corpus)
GOLD = "gold"  # models.<name>.gold and significance.<name>.gold: the same metrics on the gold qrels
NESTED = frozenset({GOLD, "agent_queries"})  # agent_queries: lrat.evaluation.agent_queries.AGENT_QUERIES
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
            name = "base" if pair == "base" else Path(pair.rstrip("/")).name.split("@")[0] or pair
        name, spec = name.strip(), spec.strip()
        if not name or not spec:
            raise ValueError(f"--model {pair!r}: expected NAME=SPEC, e.g. lrat=models/lrat")
        if name in models:
            raise ValueError(f"--model {pair!r}: the name {name!r} is given twice")
        models[name] = spec
    return check_models(models)


def check_models(models: dict[str, str]) -> dict[str, str]:
    """Fail before any model loads: every spec must be 'base', a Hugging Face id, an MLflow model URI or an
    existing folder (`lrat.retrieval.specs`)."""
    from lrat.retrieval.specs import check_spec

    if not models:
        raise ValueError("no models to evaluate (give --model NAME=SPEC)")
    for name, spec in models.items():
        if not NAME.fullmatch(name):
            raise ValueError(f"model name {name!r}: use letters, digits, '_', '-' or '.'")
        if name in RESERVED:
            raise ValueError(f"model name {name!r} is reserved ({', '.join(sorted(RESERVED))}); choose another")
        check_spec(spec, f"model {name!r}:")
    return models


def parse_runs(pairs: Iterable[str]) -> dict[str, Path]:
    """``["bm25=runs/bm25.trec", "runs/lrat.trec"]`` → ``{"bm25": Path(...), "lrat": Path(...)}``; a bare file
    is named by its stem. Names follow the model names' rules (`NAME`, not `RESERVED`); every file must exist."""
    runs: dict[str, Path] = {}
    for pair in pairs:
        name, sep, file = pair.partition("=")
        if not sep:
            file, name = pair, Path(pair).stem
        name, file = name.strip(), file.strip()
        if not name or not file:
            raise ValueError(f"--run {pair!r}: expected NAME=FILE, e.g. bm25=runs/bm25.trec")
        if not NAME.fullmatch(name):
            raise ValueError(f"--run {pair!r}: name {name!r}: use letters, digits, '_', '-' or '.'")
        if name in RESERVED:
            raise ValueError(f"--run {pair!r}: the name {name!r} is reserved ({', '.join(sorted(RESERVED))})")
        if name in runs:
            raise ValueError(f"--run {pair!r}: the name {name!r} is given twice")
        if not Path(file).is_file():
            raise FileNotFoundError(f"--run {pair!r}: TREC run {file} not found")
        runs[name] = Path(file)
    if not runs:
        raise ValueError("no runs to score (give --run NAME=FILE)")
    return runs


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
    return split_ids(as_benchmark(world).splits, split)


def split_ids(path: Path, split: str) -> list[str]:
    """The question ids of ``split`` in the splits.json at ``path``; an unknown or empty split is a ValueError."""
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


def gold_questions(world: Benchmark | Path, split: str) -> tuple[dict[str, str], dict[str, dict[str, int]]]:
    """The split's questions that have gold qrels, and those qrels, in splits.json order; empty when the
    benchmark has no gold qrels file. A gold file that has none of the split's questions is a ValueError (gold
    qrels of another benchmark)."""
    bench = as_benchmark(world)
    if bench.golds is None:
        return {}, {}
    qids = read_split(bench, split)
    golds = read_qrels(bench.golds)
    kept = [q for q in qids if golds.get(q)]
    if not kept:
        raise ValueError(f"no {split} question has gold qrels in {bench.golds} ({len(qids)} questions, e.g. "
                         f"{', '.join(repr(q) for q in qids[:5])}): gold qrels for another benchmark? (set "
                         "data.qrels_golds: null to score the evidence only)")
    queries = read_queries(bench.queries)
    missing = [q for q in kept if q not in queries]
    if missing:
        raise ValueError(f"{len(missing)} {split} question(s) with gold qrels are not in {bench.queries}, e.g. "
                         f"{', '.join(repr(q) for q in missing[:5])}")
    return {q: queries[q] for q in kept}, {q: golds[q] for q in kept}


def without_gold(entry: dict[str, Any]) -> dict[str, Any]:
    """A ``models[name]`` or ``significance[name]`` entry without its nested parts (the gold-qrels metrics, the
    agent-query metrics): metric → value of the question-level evidence metrics only."""
    return {k: v for k, v in entry.items() if k not in NESTED}


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


def search_questions(spec: str, world: Benchmark | Path, queries: dict[str, str], cache_dir: Path | None,
                     encoding: Encoding = Encoding(), progress: bool = True, depth: int = DEPTH, workers: int = 1,
                     devices: list[str] | None = None) -> dict[str, list[Hit]]:
    """One model's top-``depth`` hits (docid, score) per question, best first: exact search over the whole corpus
    (cached corpus vectors; an uncached corpus is encoded by ``workers`` processes, the same vectors as one). A
    corpus smaller than ``depth`` is ranked whole."""
    from lrat.retrieval.local import LocalRetriever

    retriever = LocalRetriever.build(spec, as_benchmark(world).corpus, cache_dir, encoding, progress=progress,
                                     workers=workers, devices=devices)
    qids = list(queries)
    hits = retriever.search_batch([queries[q] for q in qids], depth)
    retriever.save_query_cache()
    return dict(zip(qids, hits, strict=True))


def rank_questions(spec: str, world: Benchmark | Path, queries: dict[str, str], cache_dir: Path | None,
                   encoding: Encoding = Encoding(), progress: bool = True, depth: int = DEPTH, workers: int = 1,
                   devices: list[str] | None = None) -> dict[str, list[str]]:
    """One model's top-``depth`` docids per question (`search_questions` without the scores)."""
    hits = search_questions(spec, world, queries, cache_dir, encoding, progress, depth, workers, devices)
    return {q: [h.docid for h in row] for q, row in hits.items()}


def score_report(qrels: dict[str, dict[str, int]], rankings: dict[str, dict[str, list[str]]],
                 gold_qrels: dict[str, dict[str, int]] | None = None) -> dict[str, Any]:
    """``{"n_queries", ["n_queries_gold"], "depth", "models", "significance"}`` of ``rankings`` (model → qid →
    docids, best first) on ``qrels``, and on ``gold_qrels`` when given: the gold means go to
    ``models[name]["gold"]`` and their paired tests (same baseline) to ``significance[name]["gold"]``. ``depth``:
    the longest ranking of a scored question."""
    means, significance = score_runs(qrels, rankings)
    report: dict[str, Any] = {"n_queries": len(qrels)}
    scored = set(qrels)
    if gold_qrels:
        gold_means, gold_significance = score_runs(gold_qrels, rankings, baseline=significance["baseline"])
        report["n_queries_gold"] = len(gold_qrels)
        for name in means:
            means[name][GOLD] = gold_means[name]
            if name in significance:
                significance[name][GOLD] = gold_significance[name]
        scored |= set(gold_qrels)
    report["depth"] = max((len(ranking.get(q, ())) for ranking in rankings.values() for q in scored), default=0)
    return {**report, "models": means, "significance": significance}


def evaluate_offline(models: dict[str, str], world: Benchmark | Path, split: str = "test",
                     cache_dir: Path | None = None, encoding: Encoding = Encoding(), progress: bool = True,
                     workers: int = 1, devices: list[str] | None = None,
                     runs_out: Path | None = None) -> dict[str, Any]:
    """``{"split", "n_queries", ["n_queries_gold"], "depth", "models": {name: {metric: mean, ["gold": {metric:
    mean}]}}, "significance": {...}}`` for ``models`` (name → 'base' | model folder | MLflow URI).

    The metrics of the split's questions with evidence, and, when the benchmark has gold qrels, the same metrics
    of its questions with gold qrels (``gold``, ``n_queries_gold``). ``depth``: min(`DEPTH`, corpus size).
    Writes nothing but cache entries, and with ``runs_out`` each model's ranking of those questions as the TREC
    run ``runs_out/<name>.trec`` (`lrat.evaluation.trec`)."""
    check_models(models)
    queries, qrels = split_questions(world, split)
    gold_texts, gold_qrels = gold_questions(world, split)
    texts = {**queries, **gold_texts}
    asked = {q: texts[q] for q in read_split(world, split) if q in texts}  # splits.json order
    hits: dict[str, dict[str, list[Hit]]] = {}
    bar = None
    if progress:
        from tqdm import tqdm

        bar = tqdm(total=len(models), desc=f"retrieval on {split}", unit="model")
    try:
        for name, spec in models.items():
            if bar is not None:
                bar.set_postfix_str(name)
            hits[name] = search_questions(spec, world, asked, cache_dir, encoding, progress, workers=workers,
                                          devices=devices)
            if bar is not None:
                bar.update(1)
    finally:
        if bar is not None:
            bar.close()
    rankings = {name: {q: [h.docid for h in row] for q, row in rows.items()} for name, rows in hits.items()}
    report = {"split": split, **score_report(qrels, rankings, gold_qrels)}
    if runs_out is not None:
        from lrat.evaluation.trec import write_run

        for name, rows in hits.items():
            write_run(Path(runs_out) / f"{name}.trec", rows, tag=name)
    return report


def evaluate_runs(runs: dict[str, Path], qrels: Path, split: str | None = None, splits: Path | None = None,
                  qrels_golds: Path | None = None, warn: Callable[[str], None] | None = None) -> dict[str, Any]:
    """TREC run files (name → file; a BrowseComp-Plus leaderboard run, `lrat evaluate --runs-out`'s) scored as
    `evaluate_offline` scores models: the same metrics and paired test, the same JSON (``split`` null: every
    question of ``qrels``), plus ``qrels`` and ``runs``. No model loads.

    Questions: every question of ``qrels`` with a relevant document, only those of ``split`` (in the splits.json
    ``splits``) when given; gold rows from ``qrels_golds`` likewise. A question a run does not rank scores 0 on
    every metric (ranx's semantics); ``warn`` hears which runs miss questions."""
    from lrat.evaluation.trec import read_run

    evidence = read_qrels(Path(qrels))
    golds = read_qrels(Path(qrels_golds)) if qrels_golds is not None else {}
    where = f"{qrels}"
    if split is not None:
        if splits is None:
            raise ValueError(f"split {split!r}: no splits.json to read it from")
        keep = split_ids(Path(splits), split)
        evidence = {q: evidence[q] for q in keep if q in evidence}
        golds = {q: golds[q] for q in keep if q in golds}
        where = f"{qrels} among the {len(keep)} {split} questions of {splits}"
    if not evidence:
        raise ValueError(f"no question with a relevant document in {where}: nothing to score")
    if qrels_golds is not None and not golds:
        raise ValueError(f"no question with a gold document in {qrels_golds}"
                         + (f" among the {split} questions of {splits}" if split is not None else ""))
    rankings = {name: read_run(path) for name, path in runs.items()}
    scored = set(evidence) | set(golds)
    for name, ranking in rankings.items():
        missing = sorted(scored - set(ranking))
        if missing and warn is not None:
            warn(f"run {name!r} ({runs[name]}) ranks nothing for {len(missing)} of the {len(scored)} scored "
                 f"questions (e.g. {', '.join(repr(q) for q in missing[:3])}): they score 0")
    report = {"split": split, **score_report(evidence, rankings, golds or None)}
    return {**report, "qrels": str(qrels), **({"qrels_golds": str(qrels_golds)} if qrels_golds else {}),
            "runs": {name: str(path) for name, path in runs.items()}}
