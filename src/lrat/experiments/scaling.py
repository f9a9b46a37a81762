"""`lrat experiment scaling`: the same training on growing shares of the trajectories, scored on the same held-out
questions, to see whether more agent logs give a better retriever (the paper: 1K → 30K trajectories, success
rising).

Subsets are drawn by a hash of (seed, trajectory_id), so they do not depend on the file's order and a smaller
fraction's trajectories are always inside a larger one's: the curve measures more data, not other data. Each
subset is mined as a whole build (the judge and weights exactly as the pipeline's `mine:`), then trained with
the pipeline's `train:` settings except the row budget: `train.max_rows` caps the pipeline's run for time, and a
cap would flatten exactly the curve this experiment draws, so the experiment has its own (`experiment.scaling
.max_rows`, default all rows). Trajectories of held-out questions never train (none exist on the embedded default,
whose agent ran on the train split; real logs may hold some).
"""

from __future__ import annotations

import hashlib
import tempfile
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson

from lrat.experiments.common import Bench, finish_report, questions_sha256, relative_gain, resolve_model
from lrat.io import atomic_open
from lrat.settings import Mine, Scaling

DEFAULT_FRACTIONS = Scaling().fractions
PAPER = "paper (LRAT §7): trained on 1K → 30K trajectories, agent success rises with the number of trajectories"


@dataclass(frozen=True)
class ScalingConfig:
    fractions: tuple[float, ...] = DEFAULT_FRACTIONS
    max_rows: int | None = None  # training rows per subset; None: all of them
    experiment: str = "lrat-scaling"  # MLflow experiment, one run per point


# subsets ---------------------------------------------------------------------------------------------------------


def check_fractions(fractions: Iterable[float]) -> tuple[float, ...]:
    """Ascending, distinct shares in (0, 1]."""
    values = tuple(sorted({float(f) for f in fractions}))
    if not values:
        raise ValueError("--fractions: give at least one share of the trajectories")
    bad = [f for f in values if not 0.0 < f <= 1.0]
    if bad:
        raise ValueError(f"--fractions: every share must be in (0, 1], not {bad[0]:g}")
    return values


def draw_order(ids: Iterable[str], seed: int) -> list[str]:
    """Trajectory ids in their fixed draw order (a hash of seed and id): the first n are the subset of size n."""
    return sorted(set(ids), key=lambda t: (hashlib.sha256(f"{seed}\t{t}".encode()).hexdigest(), t))


def subset_size(fraction: float, total: int) -> int:
    """round(fraction × total), at least one trajectory when there are any."""
    return min(total, max(1, round(fraction * total))) if total else 0


def nested_subsets(ids: Iterable[str], fractions: Iterable[float], seed: int) -> dict[float, list[str]]:
    """fraction → its trajectory ids; a smaller fraction's subset is a prefix of every larger one's."""
    order = draw_order(ids, seed)
    return {f: order[: subset_size(f, len(order))] for f in check_fractions(fractions)}


def _trajectory_id(line: bytes) -> tuple[str | None, str | None]:
    try:
        record = orjson.loads(line)
    except ValueError:
        return None, None
    if not isinstance(record, dict) or not isinstance(record.get("trajectory_id"), str):
        return None, None
    qid = record.get("query_id")
    return record["trajectory_id"], None if qid is None else str(qid)


def read_ids(trajectories: Path, held_out: set[str]) -> tuple[list[str], dict[str, int]]:
    """The ids that may train (file order) and counts: read, of held-out questions (left out), unreadable (the
    miner would reject them too)."""
    ids: list[str] = []
    counts = {"read": 0, "held_out_excluded": 0, "unreadable": 0}
    with trajectories.open("rb") as fh:
        for line in fh:
            if not line.strip():
                continue
            counts["read"] += 1
            tid, qid = _trajectory_id(line)
            if tid is None:
                counts["unreadable"] += 1
            elif qid is not None and qid in held_out:
                counts["held_out_excluded"] += 1
            else:
                ids.append(tid)
    counts["eligible"] = len(ids)
    return ids, counts


def write_subset(trajectories: Path, keep: set[str], out: Path) -> int:
    """Copy the lines of ``keep`` byte for byte (what the miner reads is what ingest wrote)."""
    written = 0
    with trajectories.open("rb") as src, atomic_open(out, "wb") as dst:
        for line in src:
            tid, _ = _trajectory_id(line) if line.strip() else (None, None)
            if tid is not None and tid in keep:
                dst.write(line if line.endswith(b"\n") else line + b"\n")
                written += 1
    return written


# the experiment --------------------------------------------------------------------------------------------------


def point_name(fraction: float) -> str:
    return f"frac-{fraction:g}"


def _mine_subset(trajectories: Path, corpus: Path, ids: list[str], folder: Path, mine_settings: Mine
                 ) -> dict[str, Any]:
    from lrat.mining.options import resolve_options
    from lrat.mining.run import mine

    folder.mkdir(parents=True, exist_ok=True)
    (folder / "trajectory_ids.txt").write_text("".join(f"{t}\n" for t in ids), encoding="utf-8")
    subset = folder / "trajectories.jsonl"
    write_subset(trajectories, set(ids), subset)
    try:
        return mine(subset, corpus, folder / "labels.jsonl", resolve_options(None, mine_settings, {}),
                    folder / "mining.json", progress=False)
    finally:
        subset.unlink(missing_ok=True)  # the ids file and the seed reproduce it; the labels are what trained


def _train_point(i: int, n: int, fraction: float, chosen: list[str], trajectories: Path, corpus: Path,
                 models_dir: Path, tcfg: Any, mine_settings: Mine, progress: bool,
                 log: Callable[[str], None]) -> dict[str, Any]:
    """One point of the curve: mine the subset as a whole build, train on its labels as one MLflow run."""
    from lrat.training.train import train

    name = point_name(fraction)
    folder = models_dir / name
    log(f"[{i}/{n}] {name}: {len(chosen)} trajectories -> mining")
    mining = _mine_subset(trajectories, corpus, chosen, folder, mine_settings)
    point: dict[str, Any] = {"name": name, "fraction": fraction, "trajectories": len(chosen),
                             "trajectories_mined": mining["trajectories"]["used"], "label_rows": mining["rows"],
                             "labels": str(folder / "labels.jsonl")}
    try:
        log(f"[{i}/{n}] {name}: {mining['rows']} label rows -> training")
        summary = train(folder / "labels.jsonl", folder / "model", tcfg, name=f"scaling-{fraction:g}",
                        mining_metrics=folder / "mining.json", progress=progress, corpus=corpus,
                        tags={"experiment": "scaling", "scaling.fraction": f"{fraction:g}",
                              "scaling.trajectories": str(len(chosen))})
    except ValueError as exc:  # a share too small to give a trainable row: reported, not fatal
        if "no rows to train on" not in str(exc):
            raise
        log(f"[{i}/{n}] {name}: skipped ({exc})")
        return {**point, "model": None, "skipped": str(exc)}
    return {**point, "model": str(folder / "model"), "run_id": summary["run_id"],
            "train_rows": summary["rows"]["rows"], "steps": summary["steps"], "train_seconds": summary["seconds"]}


def run_scaling(trajectories: Path, corpus: Path, bench: Bench, train_cfg: Any, mine_settings: Mine,
                cfg: ScalingConfig, models_dir: Path, out: Path, plot: Path | None = None, progress: bool = True,
                log: Callable[[str], None] = lambda message: None) -> dict[str, Any]:
    """Mine, train and score one model per fraction, plus the base model as the 0-trajectory point; write
    ``out`` (JSON) and ``plot`` (PNG) and return the report. ``train_cfg``: the pipeline's TrainConfig."""
    from lrat.evaluation.offline import benchmark_sha256, evaluate_offline, read_split, split_questions, without_gold

    start = time.perf_counter()
    fractions = check_fractions(cfg.fractions)
    queries, _ = split_questions(bench.world, bench.split)
    ids, counts = read_ids(trajectories, set(read_split(bench.world, bench.split)))
    if not ids:
        raise ValueError(f"{trajectories}: no trajectory outside the {bench.split!r} questions to train on "
                         f"({counts})")
    subsets = nested_subsets(ids, fractions, bench.seed)
    why_not = bench.agent_skipped()
    agent_cfg = None if why_not else bench.agent_config()  # bad `agent:` settings fail before any training
    tcfg = train_cfg.model_copy(update={"experiment": cfg.experiment, "max_rows": cfg.max_rows})
    with tempfile.TemporaryDirectory(prefix="lrat-scaling-") as scratch:
        # resolved first: a missing base model (or registry alias) fails before the first training, not after
        base_spec, base_info = resolve_model(train_cfg.base_model, Path(scratch) / "base")
        points = [_train_point(i, len(fractions), fraction, subsets[fraction], trajectories, corpus, models_dir,
                               tcfg, mine_settings, progress, log) for i, fraction in enumerate(fractions, start=1)]
        specs = {"base": base_spec, **{p["name"]: p["model"] for p in points if p.get("model")}}
        log(f"scoring {len(specs)} models on {len(queries)} {bench.split} questions"
            + ("" if why_not else " (offline and with the simulated agent)"))
        offline = evaluate_offline(specs, bench.world, bench.split, bench.cache_dir, bench.encoding,
                                   progress=progress)
        agents = None
        if agent_cfg is not None:
            from lrat.evaluation.agent import evaluate_agents

            agents = evaluate_agents(specs, bench.world, bench.split, bench.seed, agent_cfg,
                                     bench.cache_dir, None, progress=progress, encoding=bench.encoding)
    base_point = {"name": "base", "fraction": 0.0, "trajectories": 0, "trajectories_mined": 0, "label_rows": 0,
                  "train_rows": 0, "steps": 0, "model": base_info["spec"]}
    all_points = [base_point, *points]
    for point in all_points:
        scored = point["name"] in offline["models"]
        point["offline"] = without_gold(offline["models"][point["name"]]) if scored else None
        sig = offline["significance"].get(point["name"])
        point["p_value_vs_base"] = None if not sig else {m: cell["p_value"] for m, cell in without_gold(sig).items()}
        point["agent"] = agents["models"][point["name"]] if agents is not None and scored else None
    base_scores = base_point["offline"]
    for point in points:
        if point["offline"] is not None:
            point["gain_vs_base"] = {
                "recall@10": relative_gain(point["offline"]["recall@10"], base_scores["recall@10"]),
                "success": None if point["agent"] is None else relative_gain(point["agent"]["success"],
                                                                             base_point["agent"]["success"])}
    report = {
        "experiment": "scaling",
        "benchmark": str(bench.world), "benchmark_sha256": benchmark_sha256(bench.world), "split": bench.split,
        "n_queries": offline["n_queries"], "questions_sha256": questions_sha256(list(queries)), "seed": bench.seed,
        "trajectories": {"path": str(trajectories), **counts},
        "subsets": "nested: the first round(fraction × eligible) trajectories in the order of sha256(seed, id)",
        "train": {"base_model": train_cfg.base_model, "epochs": tcfg.epochs, "batch_size": tcfg.batch_size,
                  "lr": tcfg.lr, "max_seq_length": tcfg.max_seq_length, "loss": tcfg.loss, "rows": tcfg.rows,
                  "weights": tcfg.weights, "n_negatives": tcfg.n_negatives,
                  "max_rows": cfg.max_rows,
                  "row_budget": ("all rows of each subset (experiment.scaling.max_rows: null; train.max_rows caps "
                                 "only the pipeline's run)") if cfg.max_rows is None else
                                (f"at most {cfg.max_rows} rows per subset (a fixed sample, as train.max_rows): "
                                 "subsets with more rows train on that many, which hides part of the effect")},
        "agent": {"evaluated": agents is not None, "skipped": why_not, "seed": bench.seed,
                  "k": None if agent_cfg is None else agent_cfg.k,
                  "n_questions": None if agents is None else agents["n_questions"]},
        "points": all_points,
        "monotonic": {"recall@10": _rising([p["offline"]["recall@10"] for p in all_points if p["offline"]]),
                      "success": None if agents is None else _rising(
                          [p["agent"]["success"] for p in all_points if p["agent"]])},
        "paper": PAPER,
        "mlflow": {"experiment": cfg.experiment},
        "seconds": 0.0,
    }
    return finish_report(report, _log_runs, start, out, plot, "draw_scaling")


def _rising(values: list[float]) -> bool:
    return all(b >= a for a, b in zip(values, values[1:], strict=False))


def _log_runs(report: dict[str, Any], experiment: str) -> dict[str, str]:
    """Scores join each point's training run; the base point gets a run of its own, so every point of the curve
    is one MLflow run in ``experiment``."""
    import mlflow

    from lrat.tracking import use_experiment

    use_experiment(experiment)
    tags = {"experiment": "scaling", "eval.split": report["split"],
            "eval.benchmark_sha256": report["benchmark_sha256"], "eval.n_queries": str(report["n_queries"])}
    runs: dict[str, str] = {}
    for point in report["points"]:
        if point["offline"] is None:
            continue
        metrics = {f"scaling.{k.replace('@', '_at_')}": float(v) for k, v in point["offline"].items()}
        metrics.update({f"scaling.agent.{k}": float(v) for k, v in (point["agent"] or {}).items()})
        metrics.update({"scaling.trajectories": float(point["trajectories"]),
                        "scaling.label_rows": float(point["label_rows"]),
                        "scaling.train_rows": float(point.get("train_rows") or 0)})
        if point.get("run_id"):
            with mlflow.start_run(run_id=point["run_id"]):
                mlflow.log_metrics(metrics)
                mlflow.set_tags(tags)
        else:
            with mlflow.start_run(run_name="scaling-base", tags={**tags, "scaling.fraction": "0",
                                                                 "scaling.trajectories": "0"}):
                mlflow.log_param("model", point["model"])
                mlflow.log_metrics(metrics)
                point["run_id"] = mlflow.active_run().info.run_id
        runs[point["name"]] = point["run_id"]
    return runs
