"""Agent-level evaluation (method §7): the simulated search agent answers the split's questions once per retriever,
with the same seed (common random numbers), and its run files are scored as the paper scores real agents.

Evidence recall per question = |docs seen in any search result or browsed ∩ evidence| / |evidence|, averaged over
questions; search and browse calls are counted per question from the run files (BrowseComp-Plus format of the LRAT
authors' fork: ``search`` results with ``DocID:`` lines, ``get_document`` calls with a ``docid`` argument).
"""

from __future__ import annotations

import json
import re
import statistics
import tempfile
from pathlib import Path
from typing import Any

from lrat.benchmark import Benchmark, as_benchmark
from lrat.evaluation.offline import check_models, split_questions
from lrat.progress import progress_bar
from lrat.settings import Agent, Encoding

DOCID_LINE = re.compile(r"^DocID:\s*(\S+)", re.MULTILINE)
SEARCH_TOOLS = frozenset({"search"})
BROWSE_TOOLS = frozenset({"get_document"})


def run_file_stats(run: dict[str, Any]) -> tuple[set[str], int, int]:
    """(docids seen in search results or browsed, search calls, browse calls) of one run file."""
    seen: set[str] = set()
    searches = browses = 0
    for item in run.get("result") or []:
        if item.get("type") != "tool_call":
            continue
        tool = item.get("tool_name")
        if tool in SEARCH_TOOLS:
            searches += 1
            seen.update(DOCID_LINE.findall(str(item.get("output") or "")))
        elif tool in BROWSE_TOOLS:
            browses += 1
            args = item.get("arguments")
            try:
                args = json.loads(args) if isinstance(args, str) else args
            except ValueError:
                args = None
            if isinstance(args, dict) and args.get("docid") is not None:
                seen.add(str(args["docid"]).strip())
    return seen, searches, browses


def score_run_files(run_dir: Path, qrels: dict[str, dict[str, int]]) -> dict[str, float]:
    """Evidence recall and calls per question over the run files in ``run_dir`` (one per question of ``qrels``)."""
    recalls, searches, browses = [], [], []
    for qid, evidence in qrels.items():
        path = run_dir / f"run_{qid}.json"
        if not path.is_file():
            raise FileNotFoundError(f"{path}: the agent wrote no run file for question {qid}")
        seen, n_search, n_browse = run_file_stats(json.loads(path.read_text(encoding="utf-8")))
        recalls.append(len(seen & set(evidence)) / len(evidence))
        searches.append(n_search)
        browses.append(n_browse)
    return {"evidence_recall": round(statistics.mean(recalls), 4),
            "avg_search_calls": round(statistics.mean(searches), 3),
            "avg_browse_calls": round(statistics.mean(browses), 3)}


ORACLE = "oracle"


def gap_closed(results: dict[str, dict[str, Any]], baseline: str) -> dict[str, float | None]:
    """Share of the success gap between the baseline and the oracle that each other retriever closes."""
    base, ceiling = results[baseline]["success"], results[ORACLE]["success"]
    return {name: (round((values["success"] - base) / (ceiling - base), 4) if ceiling != base else None)
            for name, values in results.items() if name not in (baseline, ORACLE)}


def evaluate_agents(models: dict[str, str], world: Benchmark | Path, split: str = "test", seed: int = 13,
                    agent_cfg: Agent | None = None, cache_dir: Path | None = None, out_dir: Path | None = None,
                    progress: bool = True, encoding: Encoding = Encoding(),
                    oracle: bool = False, workers: int = 1, devices: list[str] | None = None) -> dict[str, Any]:
    """``{"split", "n_questions", "seed", "models": {name: {"success", "evidence_recall", "avg_search_calls",
    "avg_browse_calls"}}}``. Run files go to ``out_dir/<name>/`` (a temporary folder when None).

    ``oracle`` adds the ceiling row ``oracle``: the baseline model (``base``, else the first) with the question's
    evidence pages put on top of its results, on the same questions and seed; ``gap_closed`` then says how much of
    the baseline → oracle success gap each other model closes."""
    from lrat.retrieval.local import LocalRetriever
    from lrat.simulate.driver import simulate
    from lrat.simulate.store import STATE, load_world

    check_models(models)
    bench = as_benchmark(world)
    _, qrels = split_questions(bench, split)
    if bench.world is None or not (bench.world / STATE).is_file():
        raise FileNotFoundError(f"{bench.world or bench.corpus.parent} has no {STATE}: agent-level evaluation needs "
                                "a world written by `lrat simulate world` (use --no-agent for a real benchmark)")
    world = bench.world
    cfg = agent_cfg if agent_cfg is not None else Agent()
    state = load_world(world)
    by_id = {q.qid: q for q in state.questions}
    questions = [by_id[q] for q in qrels if q in by_id]
    if len(questions) != len(qrels):
        raise ValueError(f"{len(qrels) - len(questions)} {split} question(s) are not in {world / STATE}")
    baseline = "base" if "base" in models else next(iter(models))
    results: dict[str, dict[str, Any]] = {}

    def run(name: str, engine: Any) -> None:
        with progress_bar(len(questions), f"agents with {name}", enabled=progress) as update:
            summary = simulate(state, questions, engine, cfg, seed, root / name, update)
        results[name] = {"success": summary["success"], **score_run_files(root / name, qrels)}

    with tempfile.TemporaryDirectory(prefix="lrat-agent-eval-") as tmp:
        root = Path(out_dir) if out_dir is not None else Path(tmp)
        for name, spec in models.items():
            engine = LocalRetriever.build(spec, bench.corpus, cache_dir, encoding, progress=progress,
                                          workers=workers, devices=devices)
            run(name, engine)
            if oracle and name == baseline:
                from lrat.simulate.oracle import OracleRetriever

                run(ORACLE, OracleRetriever(engine, state))
            engine.save_query_cache()
    ordered = {name: results[name] for name in [*models, ORACLE] if name in results}  # the ceiling row last
    out: dict[str, Any] = {"split": split, "n_questions": len(questions), "seed": seed, "models": ordered}
    if oracle:
        out["ceiling"] = {"model": ORACLE, "over": baseline, "gap_closed": gap_closed(results, baseline)}
    return out
