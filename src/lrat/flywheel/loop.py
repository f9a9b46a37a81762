"""The loop: rounds of stages, each stage skipped when its marker says it finished, each round a parent MLflow run
(experiment `flywheel.experiment`) with one child run per stage (the training run is the `train` child)."""

from __future__ import annotations

import shutil
import time
from typing import Any

from lrat.flywheel import stages
from lrat.flywheel.questions import pool, round_questions
from lrat.flywheel.state import read_json
from lrat.io import write_json

STAGES = ("collect", "ingest", "mine", "validate", "train", "register", "evaluate", "promote", "version")
REFERENCE = "reference.json"


def run_flywheel(ctx: stages.Ctx, rounds: int, resume: bool = False, restart: bool = False) -> dict[str, Any]:
    """Rounds 1..``rounds`` (finished ones are read back, not redone); returns what metrics/flywheel.json holds."""
    from lrat.flywheel.report import write_reports

    if rounds < 1:
        raise ValueError("--rounds must be at least 1")
    ctx.rounds.reap_servers(ctx.log)
    if restart and ctx.cfg.dir.exists():
        ctx.log(f"--restart: removing {ctx.cfg.dir} (the registry keeps its versions and aliases)")
        shutil.rmtree(ctx.cfg.dir)
    plan = {**ctx.cfg.plan(), "seed": ctx.seed, "world": str(ctx.world), "registry": ctx.settings.registry}
    qids = pool(ctx.world, ctx.cfg.split)
    round_questions(qids, ctx.seed, ctx.cfg.questions_per_round, rounds)  # enough fresh questions for all rounds?
    ctx.rounds.check_plan(plan, resume)
    reference = ensure_reference(ctx)
    rows: list[dict[str, Any]] = []
    for n in range(1, rounds + 1):
        row = ctx.rounds.finished_round(n)
        if row is None:
            row = run_round(ctx, n, round_questions(qids, ctx.seed, ctx.cfg.questions_per_round, n))
        else:
            ctx.log(f"round {n}: finished earlier ({row['decision']}), not redone")
        rows.append(row)
        report = write_reports(ctx, plan, reference, rows)
    return report


def run_round(ctx: stages.Ctx, n: int, qids: list[str]) -> dict[str, Any]:
    started = ctx.rounds.done(n, "start") or ctx.rounds.finish(n, "start", {"parent_run": _parent_run(ctx, n),
                                                                            "questions": qids,
                                                                            "time": time.time()})
    parent = started["parent_run"]
    results: dict[str, dict[str, Any]] = {}
    try:
        for stage in STAGES:
            done = ctx.rounds.done(n, stage)
            if done is not None:
                results[stage] = done
                continue
            ctx.log(f"round {n}: {stage}")
            clock = time.perf_counter()
            result = _call(ctx, n, stage, qids, parent, results)
            result["stage_seconds"] = round(time.perf_counter() - clock, 1)
            results[stage] = ctx.rounds.finish(n, stage, result)
            if stage != "train":  # the training run itself is that child
                _child_run(ctx, parent, n, stage, result)
    except BaseException:
        try:
            _end_parent(parent, "KILLED")  # resuming reopens it: the round's parent run stays one run
        except Exception:  # noqa: BLE001  (the store must not hide why the round stopped)
            pass
        raise
    row = round_row(ctx, n, results, started)
    _end_parent(parent, "FINISHED", row)
    return ctx.rounds.finish(n, "round", row)


def _call(ctx: stages.Ctx, n: int, stage: str, qids: list[str], parent: str,
          results: dict[str, dict[str, Any]]) -> dict[str, Any]:
    if stage == "collect":
        return stages.collect(ctx, n, qids)
    if stage in ("train", "register"):
        return getattr(stages, stage)(ctx, n, parent)
    if stage == "evaluate":
        return stages.evaluate(ctx, n, results["register"]["version"])
    if stage == "version":
        return stages.version_round(ctx, n)
    return getattr(stages, stage)(ctx, n)


# reference rows ------------------------------------------------------------------------------------------------------


def ensure_reference(ctx: stages.Ctx) -> dict[str, Any]:
    """The base model (offline and agent) and the oracle ceiling (agent) on the held-out questions: they do not
    change from round to round, so they are measured once per flywheel."""
    path = ctx.cfg.dir / REFERENCE
    if path.is_file():
        return read_json(path)
    from lrat.evaluation.agent import evaluate_agents
    from lrat.evaluation.offline import evaluate_offline
    from lrat.registry.promotion import agent_support

    s = ctx.settings
    ctx.log(f"reference: base model {s.base_model} and the oracle on the held-out {s.gate.split} questions")
    offline = evaluate_offline({"base": s.base_model}, s.world, s.gate.split, s.cache_dir, s.encoding,
                               progress=ctx.progress)
    why_not = agent_support(s)
    agents = None if why_not else evaluate_agents({"base": s.base_model}, s.world, s.gate.split, s.seed, s.agent,
                                                  s.cache_dir, None, progress=ctx.progress, encoding=s.encoding,
                                                  oracle=True)
    reference = {"split": s.gate.split, "n_queries": offline["n_queries"], "base_model": s.base_model,
                 "base": {"offline": offline["models"]["base"], "agent": agents and agents["models"]["base"]},
                 "oracle": {"agent": agents and agents["models"]["oracle"]}, "agent_skipped": why_not or None}
    write_json(path, reference)
    return reference


def round_row(ctx: stages.Ctx, n: int, results: dict[str, dict[str, Any]], started: dict[str, Any]
              ) -> dict[str, Any]:
    decision = read_json(ctx.rounds.round_dir(n) / "decision.json")
    evaluation = decision.get("evaluation") or {}
    agent = evaluation.get("agent") or {}

    def side(name: str, version: str | None) -> dict[str, Any]:
        return {"version": version, "offline": (evaluation.get("offline") or {}).get(name),
                "agent": agent.get(name)}

    before = side("current", decision["champion"].get("version"))
    challenger = side("candidate", str(results["register"]["version"]))
    promoted = results["promote"]["decision"] == "promoted"
    return {"round": n, "questions": len(started["questions"]), "served": results["collect"]["served"],
            "collect": {k: results["collect"].get(k) for k in ("success", "avg_searches", "avg_browses")},
            "trajectories": results["ingest"]["trajectories"], "window_rounds": results["mine"]["rounds"],
            "window_trajectories": results["mine"]["trajectories"], "labels": results["mine"]["rows"],
            "labels_used": results["train"]["rows"].get("rows"), "validation": results["validate"]["status"],
            "train_start": results["train"]["start"], "challenger": challenger, "champion_before": before,
            "decision": results["promote"]["decision"], "failed_checks": results["promote"]["failed"],
            "champion": challenger if promoted else before, "mlflow_run_id": started["parent_run"],
            "dvc": results["version"], "seconds": round(time.time() - started["time"], 1)}


# MLflow --------------------------------------------------------------------------------------------------------------


def _parent_run(ctx: stages.Ctx, n: int) -> str:
    from mlflow.tracking import MlflowClient

    from lrat.tracking import use_experiment

    experiment = use_experiment(ctx.cfg.experiment, ctx.root)
    run = MlflowClient().create_run(experiment, run_name=f"round-{n:02d}",
                                    tags={"flywheel.round": str(n), "flywheel.dir": str(ctx.cfg.dir)})
    return run.info.run_id


def _child_run(ctx: stages.Ctx, parent: str, n: int, stage: str, result: dict[str, Any]) -> None:
    import mlflow

    from lrat.tracking import flat, use_experiment

    use_experiment(ctx.cfg.experiment, ctx.root)
    values = flat("", result)
    with mlflow.start_run(run_name=f"round-{n:02d}-{stage}", tags={"mlflow.parentRunId": parent,
                                                                   "flywheel.round": str(n), "flywheel.stage": stage}):
        mlflow.log_params({k: str(v)[:500] for k, v in values.items()
                           if not isinstance(v, int | float) or isinstance(v, bool)})
        numbers = {k: float(v) for k, v in values.items() if isinstance(v, int | float) and not isinstance(v, bool)}
        if numbers:
            mlflow.log_metrics(numbers)
        rd = ctx.rounds.round_dir(n)
        for name in {"validate": ("validation.md",), "promote": ("promotion.md", "promotion.json")}.get(stage, ()):
            if (rd / name).is_file():
                mlflow.log_artifact(str(rd / name))


def _end_parent(run_id: str, status: str, row: dict[str, Any] | None = None) -> None:
    from mlflow.entities import Metric
    from mlflow.tracking import MlflowClient

    from lrat.tracking import flat

    client = MlflowClient()
    if row is not None:
        now = int(time.time() * 1000)
        numbers = [Metric(k.replace("@", "_at_"), float(v), now, 0) for k, v in flat("", row).items()
                   if isinstance(v, int | float) and not isinstance(v, bool)]
        for start in range(0, len(numbers), 500):
            client.log_batch(run_id, metrics=numbers[start:start + 500])
        client.set_tag(run_id, "flywheel.decision", str(row["decision"]))
    client.set_terminated(run_id, status)

