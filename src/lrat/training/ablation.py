"""The paper's ablation (method §7): base → naive (every browse a positive, no weights) → filter (judged-relevant
rows only, no weights) → lrat (filter + reasoning weights), trained the same way and scored on the same held-out
questions, each an MLflow run in one experiment so they sit side by side in the UI."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from lrat.benchmark import Benchmark, as_benchmark, held_out_questions
from lrat.io import atomic_open, write_json
from lrat.settings import Mine, Retrieval, Train
from lrat.training.train import train

METRICS = ("recall@10", "recall@100", "ndcg@10", "mrr@10")


def variants(cfg: Train) -> dict[str, Train]:
    """naive and filter share every setting of the lrat run except what the ablation switches off."""
    plain = {"loss": "mnrl", "experiment": f"{cfg.experiment}-ablation", "weights": False}
    return {"naive": cfg.model_copy(update={**plain, "rows": "all"}),
            "filter": cfg.model_copy(update={**plain, "rows": "satisfied"})}


def naive_labels(trajectories: Path, corpus: Path, out: Path, mine_settings: Mine,
                 held_out: set[str] | None = None) -> dict[str, Any]:
    """The naive ablation's labels: the same mining with a judge that keeps every browse (and, as the pipeline's
    labels, none from a held-out question)."""
    from lrat.mining.options import resolve_options
    from lrat.mining.run import mine

    settings = mine_settings.model_copy(update={"judge_cache": None})
    return mine(trajectories, corpus, out, resolve_options(None, settings, {"judge": "none"}), progress=False,
                held_out=held_out)


def _variant(name: str, labels: Path, out: Path, cfg: Train, corpus: Path, bench: Benchmark,
             retrieval: Retrieval, threads: int | None, progress: bool) -> dict[str, Any]:
    """Train one variant, then encode the benchmark's corpus with the saved model into the vector cache, so the
    evaluation afterwards only reads vectors. ``threads``: this process's torch threads (a job of a pool)."""
    if threads is not None:
        import torch

        torch.set_num_threads(threads)
    summary = train(labels, out, cfg, name=name, tags={"ablation": name}, progress=progress, corpus=corpus)
    from lrat.retrieval.local import LocalRetriever

    LocalRetriever.build(str(out), bench.corpus, _cache_dir(retrieval), retrieval.encoding, progress=progress)
    return summary


def _cache_dir(retrieval: Retrieval) -> Path:
    """Always a cache, even with ``retrieval.cache_dir: null`` (then the default folder): the jobs hand their
    vectors to the scoring through it."""
    return retrieval.cache_dir or Retrieval().cache_dir


def train_variants(todo: dict[str, tuple[Path, Train]], models_dir: Path, corpus: Path, bench: Benchmark,
                   retrieval: Retrieval, n_jobs: int = 1, progress: bool = True) -> dict[str, dict[str, Any]]:
    """Each variant of ``todo`` (name → labels, settings) trained and its corpus encoded, ``n_jobs`` at a time.

    Why processes: two independent trainings on 2 CPU cores, one thread each, finish about 25 % sooner than one
    after the other with two threads each (torch's second thread gains far less than a second process: see
    docs/measurements/benchmarks.md). Each job gets its share of this process's torch threads; the models are the same
    settings and rows either way (floats may differ in the last bits with the thread count)."""
    n_jobs = max(1, min(n_jobs, len(todo)))
    if n_jobs == 1:
        return {name: _variant(name, rows, models_dir / name, cfg, corpus, bench, retrieval, None, progress)
                for name, (rows, cfg) in todo.items()}
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor

    import torch

    from lrat.tracking import use_experiment

    # the store and experiment exist before the jobs start, so they never race to create them
    use_experiment(next(iter(todo.values()))[1].experiment)
    threads = max(1, torch.get_num_threads() // n_jobs)
    bar = None
    if progress:
        from tqdm import tqdm

        bar = tqdm(total=len(todo), desc=f"ablation variants ({n_jobs} at a time, {threads} thread(s) each)",
                   unit="model")
    summaries: dict[str, dict[str, Any]] = {}
    try:
        with ProcessPoolExecutor(n_jobs, mp_context=multiprocessing.get_context("spawn")) as pool:
            futures = {name: pool.submit(_variant, name, rows, models_dir / name, cfg, corpus, bench, retrieval,
                                         threads, False) for name, (rows, cfg) in todo.items()}
            for name, future in futures.items():
                summaries[name] = future.result()
                if bar is not None:
                    bar.set_postfix_str(f"{name} {summaries[name]['seconds']} s")
                    bar.update(1)
    finally:
        if bar is not None:
            bar.close()
    return summaries


def run_ablation(trajectories: Path, corpus: Path, labels: Path, lrat_model: Path, world: Benchmark | Path,
                 models_dir: Path,
                 cfg: Train, mine_settings: Mine, retrieval: Retrieval, out: Path,
                 plot: Path | None = None, progress: bool = True, jobs: int = 1) -> dict[str, Any]:
    """``jobs``: variants trained at once (`train_variants`)."""
    import mlflow

    from lrat.evaluation.offline import evaluate_offline, without_gold
    from lrat.tracking import use_experiment

    models_dir.mkdir(parents=True, exist_ok=True)
    naive_rows = models_dir / "naive_labels.jsonl"
    bench = as_benchmark(world)
    naive_labels(trajectories, corpus, naive_rows, mine_settings, held_out_questions(bench.splits))
    runs: dict[str, str | None] = {"base": None, "lrat": None}
    specs = {"base": cfg.base_model}
    todo = {name: (naive_rows if name == "naive" else labels, variant) for name, variant in variants(cfg).items()}
    for name, summary in train_variants(todo, models_dir, corpus, bench, retrieval, jobs, progress).items():
        runs[name], specs[name] = summary["run_id"], str(models_dir / name)
    specs["lrat"] = str(lrat_model)
    result = evaluate_offline(specs, bench, "test", _cache_dir(retrieval), retrieval.encoding, progress)
    use_experiment(f"{cfg.experiment}-ablation")
    trained = json.loads((lrat_model / "lrat_train.json").read_text()) if (lrat_model / "lrat_train.json").exists() \
        else {}
    for name in ("base", "naive", "filter", "lrat"):
        scores = {k.replace("@", "_at_"): float(v) for k, v in without_gold(result["models"][name]).items()}
        if runs.get(name):
            with mlflow.start_run(run_id=runs[name]):
                mlflow.log_metrics(scores)
        else:
            tags = {"ablation": name, **({"trained_in_run": trained["run_id"]} if name == "lrat" and trained
                                         else {})}
            with mlflow.start_run(run_name=name, tags=tags):
                mlflow.log_param("model", specs[name])
                mlflow.log_metrics(scores)
    report = {"split": result.get("split", "test"), "n_queries": result.get("n_queries"),
              "models": {name: result["models"][name] for name in ("base", "naive", "filter", "lrat")},
              "significance": result.get("significance", {})}
    write_json(out, report)
    if plot is not None:
        draw(report, plot)
    return report


def draw(report: dict[str, Any], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = list(report["models"])
    fig, ax = plt.subplots(figsize=(8, 4))
    width = 0.8 / len(METRICS)
    for j, metric in enumerate(METRICS):
        values = [report["models"][n][metric] for n in names]
        bars = ax.bar([i + j * width for i in range(len(names))], values, width, label=metric)
        ax.bar_label(bars, fmt="%.2f", fontsize=7)
    ax.set_xticks([i + width * (len(METRICS) - 1) / 2 for i in range(len(names))], names)
    ax.set_ylim(0, 1)
    ax.set_title(f"Ablation on {report.get('n_queries')} held-out questions (method §7)")
    ax.legend(ncols=4, fontsize=8, loc="upper left")
    fig.tight_layout()
    with atomic_open(path, "wb") as fh:
        fig.savefig(fh, format="png", dpi=110)
    plt.close(fig)
