"""`lrat experiment alignment`: which offline metric predicts what the agent does?

Retrievers of varied quality (the base model, the ablation's naive and filter, the pipeline's lrat, lrat trained
with other row budgets, learning rates or seeds, the flywheel's rounds, any model named on the command line) are
scored on the same held-out questions three ways: question-level metrics (each question's text as one query),
agent-query metrics (the base agent's logged searches replayed, `lrat.evaluation.agent_queries`) and the simulated
agent itself (success, searches per question, same seed for every model). Kendall's tau and Spearman's rho of each
offline metric against agent success say which metric ranks retrievers as the agent does; the promotion gate's
primary metric should be that one (docs/flywheel/alignment.md).
"""

from __future__ import annotations

import json
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from lrat.experiments.common import Bench, questions_sha256

QUESTION_METRICS = ("recall@5", "recall@10", "recall@100", "ndcg@10", "mrr@10")
MIN_MODELS = 8
RULE = ("the gate's primary metric changes from recall@10 to an agent-query metric only if that metric's Kendall "
        "tau against agent success is higher on the default world and on a freshly generated one (another seed)")


def parse_variant(text: str) -> dict[str, Any]:
    """``"max_rows=120,lr=1e-4"`` → ``{"max_rows": 120, "lr": 0.0001}``: overrides of params.yaml ``train:``."""
    out: dict[str, Any] = {}
    for part in text.split(","):
        key, sep, value = part.partition("=")
        if not sep or not key.strip():
            raise ValueError(f"--variant {text!r}: expected KEY=VALUE[,KEY=VALUE] of params.yaml train:, "
                             "e.g. max_rows=120")
        out[key.strip()] = _value(value.strip())
    return out


def _value(text: str) -> Any:
    """A number as a number (YAML would keep ``1e-4`` a string), else what YAML makes of it."""
    import yaml

    for kind in (int, float):
        try:
            return kind(text)
        except ValueError:
            pass
    return yaml.safe_load(text)


def variant_config(train_cfg: Any, overrides: dict[str, Any]) -> Any:
    """params.yaml ``train:`` with the overrides, checked as params.yaml is (an unknown key or a bad value is a
    ValueError naming it)."""
    from pydantic import ValidationError

    try:
        return type(train_cfg).model_validate({**train_cfg.model_dump(), **overrides})
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors())
        raise ValueError(f"--variant {overrides}: {problems}") from None


def variant_name(overrides: dict[str, Any]) -> str:
    return "lrat-" + "-".join(f"{k.replace('_', '')}{v}" for k, v in overrides.items())


def train_variants(variants: list[dict[str, Any]], labels: Path, corpus: Path, train_cfg: Any, models_dir: Path,
                   progress: bool, log: Callable[[str], None]) -> dict[str, str]:
    """name → model folder of lrat trained on the pipeline's labels with each set of ``train:`` overrides; a folder
    already trained with the same overrides on the same labels is reused."""
    from lrat.io import file_sha256, write_json
    from lrat.training.train import train

    labels_sha = file_sha256(labels)
    out: dict[str, str] = {}
    for i, overrides in enumerate(variants, start=1):
        name = variant_name(overrides)
        folder = models_dir / name
        marker = folder / "alignment_variant.json"
        wanted = {"overrides": overrides, "labels_sha256": labels_sha}
        if marker.is_file() and json.loads(marker.read_text(encoding="utf-8")) == wanted:
            log(f"[{i}/{len(variants)}] {name}: trained before on these labels, reused")
        else:
            log(f"[{i}/{len(variants)}] {name}: training on {labels} with train: {overrides}")
            cfg = variant_config(train_cfg, overrides)
            train(labels, folder, cfg, name=name, progress=progress, corpus=corpus,
                  tags={"experiment": "alignment", **{f"alignment.{k}": str(v) for k, v in overrides.items()}})
            write_json(marker, wanted)
        out[name] = str(folder)
    return out


def _correlations(xs: list[float], ys: list[float]) -> dict[str, float | None]:
    from scipy.stats import kendalltau, spearmanr

    if len(set(xs)) < 2 or len(set(ys)) < 2:
        return {"kendall_tau": None, "kendall_p": None, "spearman": None, "spearman_p": None}
    tau = kendalltau(xs, ys)
    rho = spearmanr(xs, ys)
    return {"kendall_tau": round(float(tau.statistic), 4), "kendall_p": round(float(tau.pvalue), 4),
            "spearman": round(float(rho.statistic), 4), "spearman_p": round(float(rho.pvalue), 4)}


def alignment_table(models: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """metric → its kind and rank correlations with agent success (and with searches per question, where fewer
    is better) over the models."""
    names = list(models)
    success = [models[n]["agent"]["success"] for n in names]
    searches = [models[n]["agent"]["avg_search_calls"] for n in names]
    table: dict[str, dict[str, Any]] = {}
    for kind, key in (("question", "offline"), ("agent_query", "agent_queries")):
        for metric in models[names[0]][key]:
            xs = [models[n][key][metric] for n in names]
            vs_searches = _correlations(xs, searches)
            table[metric] = {"kind": kind, **_correlations(xs, success),
                             "kendall_tau_vs_searches": vs_searches["kendall_tau"]}
    return table


def rule_outcome(table: dict[str, dict[str, Any]], current: str = "recall@10") -> dict[str, Any]:
    """What the rule says on this world: the best agent-query metric by tau against success (a tie goes to the
    higher Spearman rho), and whether its tau is higher than the current primary metric's."""
    agent_query = {m: v for m, v in table.items() if v["kind"] == "agent_query" and v["kendall_tau"] is not None}
    best = max(agent_query, key=lambda m: (agent_query[m]["kendall_tau"], agent_query[m]["spearman"]), default=None)
    now = table.get(current, {}).get("kendall_tau")
    higher = best is not None and now is not None and agent_query[best]["kendall_tau"] > now
    best_question = max((m for m, v in table.items() if v["kind"] == "question" and v["kendall_tau"] is not None),
                        key=lambda m: table[m]["kendall_tau"], default=None)
    return {"rule": RULE, "current_primary": current, "current_tau": now, "best_agent_query": best,
            "best_agent_query_tau": None if best is None else agent_query[best]["kendall_tau"],
            "best_question_metric": best_question, "agent_query_higher": higher}


def run_alignment(models: dict[str, str], bench: Bench, out: Path, plot: Path | None, logged: Path | None = None,
                  experiment: str = "lrat-alignment", progress: bool = True,
                  log: Callable[[str], None] = lambda message: None) -> dict[str, Any]:
    """Score every model three ways on the held-out questions and write ``out`` (JSON) and ``plot`` (PNG).
    ``logged``: the logged queries to replay (None: the base agent's run files from this experiment)."""
    from lrat.benchmark import as_benchmark
    from lrat.evaluation.agent import evaluate_agents
    from lrat.evaluation.agent_queries import score_logged
    from lrat.evaluation.offline import benchmark_sha256, evaluate_offline, read_split, without_gold
    from lrat.io import write_json

    started = time.perf_counter()
    if len(models) < MIN_MODELS:
        raise ValueError(f"{len(models)} retrievers ({', '.join(models)}): a rank correlation needs at least "
                         f"{MIN_MODELS}; add --variant or --model")
    why_not = bench.agent_skipped()
    if why_not:
        raise ValueError(f"the alignment study needs the simulated agent's success for every retriever: {why_not}")
    baseline = "base" if "base" in models else next(iter(models))
    with tempfile.TemporaryDirectory(prefix="lrat-alignment-") as scratch:
        log(f"question-level metrics of {len(models)} retrievers on the {bench.split} questions")
        offline = evaluate_offline(models, bench.world, bench.split, bench.cache_dir, bench.encoding,
                                   progress=progress)
        log(f"the simulated agent with each of {len(models)} retrievers (seed {bench.seed})")
        agents = evaluate_agents(models, bench.world, bench.split, bench.seed, bench.agent_config(),
                                 bench.cache_dir, Path(scratch), progress=progress, encoding=bench.encoding)
        source = Path(logged) if logged is not None else Path(scratch) / baseline
        qids = read_split(bench.world, bench.split)
        log(f"agent-query metrics: replaying the logged searches of {source}")
        queries, why = score_logged(models, as_benchmark(bench.world), bench.split, source, bench.agent.k,
                                    bench.cache_dir, bench.encoding, baseline, progress)
        if queries is None:
            raise ValueError(f"no agent-query metrics to correlate: {why}")
    rows = {name: {"spec": spec,
                   "offline": {m: v for m, v in without_gold(offline["models"][name]).items()
                               if m in QUESTION_METRICS},
                   "agent_queries": queries["models"][name],
                   "agent": agents["models"][name]} for name, spec in models.items()}
    table = alignment_table(rows)
    summary = queries["summary"]
    report: dict[str, Any] = {
        "split": bench.split, "n_questions": offline["n_queries"], "questions_sha256": questions_sha256(qids),
        "benchmark_sha256": benchmark_sha256(bench.world), "seed": bench.seed,
        "logged_queries": {k: v for k, v in summary.items() if k != "questions_without_queries"}
        | {"source": "the base agent's run files of this experiment" if logged is None else str(logged)},
        "models": rows, "alignment": table, "decision": rule_outcome(table),
        "seconds": round(time.perf_counter() - started, 1), "mlflow": {"experiment": experiment}}
    report["mlflow"]["run_id"] = _log_run(report, experiment)
    write_json(out, report)
    if plot is not None:
        from lrat.experiments.plots import alignment_plot

        alignment_plot(report, plot)
    return report


def _log_run(report: dict[str, Any], experiment: str) -> str:
    """One MLflow run: each metric's tau and rho against agent success, the models as a param."""
    import mlflow

    from lrat.tracking import use_experiment

    use_experiment(experiment)
    with mlflow.start_run(run_name="alignment", tags={"experiment": "alignment", "eval.split": report["split"],
                                                     "eval.benchmark_sha256": report["benchmark_sha256"]}) as run:
        mlflow.log_params({"models": ",".join(report["models"])[:500], "seed": report["seed"],
                           "n_models": len(report["models"])})
        values = {}
        for metric, row in report["alignment"].items():
            for key in ("kendall_tau", "spearman"):
                if row[key] is not None:
                    values[f"{key}.{metric.replace('@', '_at_')}"] = row[key]
        mlflow.log_metrics(values)
        return run.info.run_id
