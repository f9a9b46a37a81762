"""`lrat experiment topk`: base and champion retrievers under the simulated agent at several numbers of results
per search (the agent's `k`), to check the paper's claim that the gain holds as K grows (a trained retriever
should not only help an agent that reads few results).

Both models answer the same held-out questions with the same agent seed at every k (common random numbers), so
a difference is the retriever's. On a benchmark without a simulated world (real agent logs: nothing can replay
the agent) the agent columns are null with the reason and the comparison falls back to offline evidence
recall@k, labelled as such; offline recall@k is reported in both modes.
"""

from __future__ import annotations

import tempfile
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from lrat.experiments.common import Bench, finish_report, questions_sha256, relative_gain, resolve_model
from lrat.settings import Topk

DEFAULT_KS = Topk().k
PAPER = "paper (LRAT §7): the trained retriever's gain over the base holds as the agent reads more results (K)"
AGENT_KEYS = ("success", "evidence_recall", "avg_search_calls", "avg_browse_calls")


@dataclass(frozen=True)
class TopkConfig:
    ks: tuple[int, ...] = DEFAULT_KS
    experiment: str = "lrat-topk"  # MLflow experiment, one run per k


def check_ks(ks: Iterable[int]) -> tuple[int, ...]:
    """Ascending, distinct, positive."""
    values = tuple(sorted({int(k) for k in ks}))
    if not values:
        raise ValueError("--k: give at least one number of results per search")
    if values[0] < 1:
        raise ValueError(f"--k: results per search must be >= 1, not {values[0]}")
    return values


def run_topk(base: str, champion: str, bench: Bench, cfg: TopkConfig, out: Path, plot: Path | None = None,
             progress: bool = True, log: Callable[[str], None] = lambda message: None) -> dict[str, Any]:
    """Score ``base`` and ``champion`` (any model spec; an MLflow alias is resolved in the registry) at every k;
    write ``out`` (JSON) and ``plot`` (PNG) and return the report."""
    from lrat.evaluation.offline import benchmark_sha256, rank_questions, score_runs, split_questions

    start = time.perf_counter()
    ks = check_ks(cfg.ks)
    queries, qrels = split_questions(bench.world, bench.split)
    why_not = bench.agent_skipped()
    agent_cfg = None if why_not else bench.agent_config()  # bad `agent:` settings fail before any model loads
    results: list[dict[str, Any]] = [{"k": k} for k in ks]
    with tempfile.TemporaryDirectory(prefix="lrat-topk-") as scratch:
        base_spec, base_info = resolve_model(base, Path(scratch) / "base")
        champion_spec, champion_info = resolve_model(champion, Path(scratch) / "champion")
        specs = {"base": base_spec, "champion": champion_spec}
        log(f"offline evidence recall@{','.join(map(str, ks))} of base and champion on {len(queries)} "
            f"{bench.split} questions")
        # recall@k reads the top k only: rank as deep as the largest k
        rankings = {name: rank_questions(spec, bench.world, queries, bench.cache_dir, bench.encoding,
                                         progress=progress, depth=ks[-1]) for name, spec in specs.items()}
        means, significance = score_runs(qrels, rankings, baseline="base", metrics=tuple(f"recall@{k}" for k in ks))
        for entry in results:
            metric = f"recall@{entry['k']}"
            cell = significance["champion"][metric]
            entry["offline"] = {"metric": metric, "base": means["base"][metric],
                                "champion": means["champion"][metric],
                                "gain": relative_gain(means["champion"][metric], means["base"][metric]),
                                "p_value": cell["p_value"], "significant": cell["significant"]}
        if agent_cfg is not None:
            from lrat.evaluation.agent import evaluate_agents

            for i, entry in enumerate(results, start=1):
                log(f"[{i}/{len(ks)}] the simulated agent with k = {entry['k']} results per search, base and "
                    "champion")
                agents = evaluate_agents(specs, bench.world, bench.split, bench.seed,
                                         agent_cfg.model_copy(update={"k": entry["k"]}), bench.cache_dir, None,
                                         progress=progress, encoding=bench.encoding)
                pair = agents["models"]
                entry["agent"] = {"n_questions": agents["n_questions"], "base": pair["base"],
                                  "champion": pair["champion"],
                                  "gain": {key: relative_gain(pair["champion"][key], pair["base"][key])
                                           for key in AGENT_KEYS}}
        else:
            for entry in results:
                entry["agent"] = None
    report = {
        "experiment": "topk",
        "mode": "agent" if agent_cfg is not None else "offline",
        "agent_skipped": why_not,
        "benchmark": str(bench.world), "benchmark_sha256": benchmark_sha256(bench.world), "split": bench.split,
        "n_questions": len(queries), "questions_sha256": questions_sha256(list(queries)), "seed": bench.seed,
        "ks": list(ks),
        "models": {"base": base_info, "champion": champion_info},
        "agent_settings": None if agent_cfg is None else {
            "max_searches": agent_cfg.max_searches, "max_browses_per_search": agent_cfg.max_browses_per_search,
            "snippet_words": agent_cfg.snippet_words, "default_k": agent_cfg.k},
        "results": results,
        "gain_holds": _gain_holds(results, agent_cfg is not None),
        "paper": PAPER,
        "mlflow": {"experiment": cfg.experiment},
        "seconds": 0.0,
    }
    return finish_report(report, _log_runs, start, out, plot, "draw_topk")


def _gain_holds(results: list[dict[str, Any]], agent: bool) -> dict[str, Any]:
    """Whether the champion is ahead at every k: agent success where the agent ran, offline recall@k always."""
    offline = [r["offline"]["gain"] for r in results]
    out: dict[str, Any] = {"offline_recall": all(g is not None and g > 0 for g in offline)}
    if agent:
        success = [r["agent"]["gain"]["success"] for r in results]
        out["agent_success"] = all(g is not None and g > 0 for g in success)
    return out


def _log_runs(report: dict[str, Any], experiment: str) -> dict[str, str]:
    """One MLflow run per k: both models' numbers and the gains, tagged with the questions they come from."""
    import mlflow

    from lrat.tracking import use_experiment

    use_experiment(experiment)
    tags = {"experiment": "topk", "topk.mode": report["mode"], "eval.split": report["split"],
            "eval.benchmark_sha256": report["benchmark_sha256"], "eval.n_queries": str(report["n_questions"])}
    if report["agent_skipped"]:
        tags["topk.agent_skipped"] = report["agent_skipped"][:500]
    params = {"base": report["models"]["base"]["spec"], "champion": report["models"]["champion"]["spec"],
              "champion.version": str(report["models"]["champion"].get("version")), "seed": report["seed"]}
    runs: dict[str, str] = {}
    for entry in report["results"]:
        k = entry["k"]
        metrics = {"offline.base.recall_at_k": entry["offline"]["base"],
                   "offline.champion.recall_at_k": entry["offline"]["champion"]}
        if entry["offline"]["gain"] is not None:
            metrics["offline.gain.recall_at_k"] = entry["offline"]["gain"]
        for name in ("base", "champion", "gain"):
            for key, value in ((entry["agent"] or {}).get(name) or {}).items():
                if value is not None:
                    metrics[f"agent.{name}.{key}"] = float(value)
        with mlflow.start_run(run_name=f"topk-{k}", tags={**tags, "topk.k": str(k)}) as run:
            mlflow.log_params({**params, "k": k})
            mlflow.log_metrics({key: float(value) for key, value in metrics.items()})
            mlflow.log_dict(entry, f"topk-{k}.json")
        runs[str(k)] = run.info.run_id
    return runs
