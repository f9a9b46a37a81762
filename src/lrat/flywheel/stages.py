"""One function per flywheel stage. Each reads what earlier stages left in the round's folder, writes its own
outputs there, and returns the small summary its marker keeps (and the round's MLflow child run logs)."""

from __future__ import annotations

import shutil
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from lrat.flywheel.state import Rounds
from lrat.progress import progress_bar
from lrat.settings import Flywheel, Settings


@dataclass
class Ctx:
    """What every stage needs: the settings, the registry, where the round's files go."""

    root: Path
    params_path: Path
    values: Settings        # the whole params.yaml
    cfg: Flywheel
    world: Path
    rounds: Rounds
    settings: Any           # lrat.registry.promotion.Settings
    registry: Any           # lrat.registry.store.Registry
    progress: bool = True
    log: Callable[[str], None] = print

    @property
    def seed(self) -> int:
        return self.values.seed


# serve + collect -------------------------------------------------------------------------------------------------


def collect(ctx: Ctx, n: int, qids: list[str]) -> dict[str, Any]:
    """Serve the champion (pinned to its version) as a real `bentoml serve` and let the agent answer the round's
    questions through it; the run files go to ``round-NN/runs``."""
    from lrat.registry.store import CHAMPION
    from lrat.serving.bundle import ensure_bento, inputs_from_settings
    from lrat.serving.process import serving
    from lrat.serving.settings import bentoml_home

    home = bentoml_home()
    inputs = inputs_from_settings(ctx.values, root=ctx.root)
    champion = ctx.registry.by_alias(CHAMPION)
    record = ensure_bento(champion.uri if champion else None, inputs, None, ctx.progress)
    served = record["served_model"]
    label = f"{served['name']}/{served['version']}" if served.get("version") else str(served["name"])
    ctx.log(f"round {n}: serving {label} (bento {record['bento']}) for {len(qids)} fresh {ctx.cfg.split} questions")
    rd = ctx.rounds.round_dir(n)
    runs = rd / "runs"
    log = ctx.rounds.bookkeeping(n) / "serve.log"  # beside the round's folder: logs are not data
    if ctx.cfg.collect == "service":
        summary = _collect_from_service(ctx, n, qids, record["bento"], home, log)
    else:
        with serving(record["bento"], log, env={"BENTOML_HOME": home}, die_with_parent=True) as (url, proc):
            ctx.rounds.record_server(n, proc.pid, url)
            if ctx.cfg.agent == "llm":
                summary = _llm_agent(ctx, qids, url, runs)
            else:
                summary = _simulated_agent(ctx, qids, url, f"lrat-serve {label}", runs, inputs.serve.max_batch)
    ctx.rounds.forget_server(n)
    return {"served": {"name": served["name"], "version": served.get("version"), "bento": record["bento"]},
            "questions": len(qids), **summary}


def _collect_from_service(ctx: Ctx, n: int, qids: list[str], bento: str, home: str, log: Path) -> dict[str, Any]:
    """Serve with capture on into ``round-NN/capture`` until ``service_trajectories`` trajectories were finished
    (POST /finish) or ``service_seconds`` passed; with `agent: simulated` the simulated agent is the caller (over
    HTTP, tagging its calls), with `agent: none` the callers are whoever calls serve.host:serve.port."""
    from lrat.serving.capture import CaptureConfig, seal_orphans
    from lrat.serving.process import read_counter, serving

    folder = ctx.rounds.round_dir(n) / "capture"
    config = CaptureConfig.from_settings(ctx.values.serve.capture, folder)
    assert config is not None
    serve = ctx.values.serve
    external = ctx.cfg.agent == "none"
    target = ctx.cfg.service_trajectories or (ctx.cfg.questions_per_round if external else len(qids))
    limit = ctx.cfg.service_seconds
    summary: dict[str, Any] = {"collect": "service", "capture": str(folder)}
    started = time.monotonic()
    with serving(bento, log, host=serve.host or "127.0.0.1", port=serve.port if external else None,
                 env={"BENTOML_HOME": home, **config.to_env()}, die_with_parent=True) as (url, proc):
        ctx.rounds.record_server(n, proc.pid, url)
        deadline = None if limit is None else started + limit
        if external:
            ctx.log(f"round {n}: capturing at {url} until {target} trajectories are finished (POST /finish) or "
                    f"{limit if limit is not None else 'unlimited'} s pass")
        else:
            summary.update(_simulated_caller(ctx, qids, url))
            deadline = time.monotonic() + 10  # its calls are all made; the writer is catching up at most
        while True:
            finished = read_counter(url, "lrat_capture_trajectories_finished_total")
            if finished >= target or (deadline is not None and time.monotonic() >= deadline):
                break
            time.sleep(1.0 if external else 0.1)
        summary.update(finished=int(finished), seconds=round(time.monotonic() - started, 1),
                       recorded=int(read_counter(url, "lrat_capture_events_recorded_total")),
                       dropped=int(read_counter(url, "lrat_capture_events_dropped_total")))
    orphans = seal_orphans(folder)  # a shutdown that did not seal (killed after the grace period)
    summary["shards"] = len(list(folder.glob("*.jsonl"))) if folder.is_dir() else 0
    if orphans["sealed"]:
        summary["sealed_after_stop"] = orphans["sealed"]
    if summary["dropped"]:
        ctx.log(f"round {n}: warning: {summary['dropped']} capture events were dropped (queue full): raise "
                "serve.capture.queue_size")
    return summary


def _simulated_caller(ctx: Ctx, qids: list[str], url: str) -> dict[str, Any]:
    """The simulated agent as a client of the service: it tags every call, so the service records the round."""
    from lrat.simulate.http_agent import simulate_over_http

    world, questions, held_out = _round_questions(ctx, qids)
    with progress_bar(len(qids), "agents calling the service", enabled=ctx.progress) as update:
        summary = simulate_over_http(world, questions, url, ctx.values.agent, ctx.seed, None, update,
                                     held_out=held_out)
    return {"agent": "simulated", "success": summary["success"], "avg_searches": summary["avg_searches"],
            "avg_browses": summary["avg_browses"], "caller_seconds": summary["seconds"]}


def _round_questions(ctx: Ctx, qids: list[str]) -> tuple[Any, list[Any], set[str]]:
    """The world, the round's questions in it, and the held-out questions' evidence (for the summary)."""
    from lrat.simulate.store import load_world

    world = load_world(ctx.world)
    by_id = {q.qid: q for q in world.questions}
    missing = [q for q in qids if q not in by_id]
    if missing:
        raise ValueError(f"{len(missing)} question(s) of split {ctx.cfg.split!r} are not in {ctx.world} "
                         f"(e.g. {missing[0]})")
    held_out = {d for q in world.questions if q.split == ctx.settings.gate.split for d in q.evidence}
    return world, [by_id[q] for q in qids], held_out


def _simulated_agent(ctx: Ctx, qids: list[str], url: str, name: str, out: Path, max_batch: int) -> dict[str, Any]:
    from lrat.retrieval.http import HttpRetriever
    from lrat.simulate.driver import simulate

    world, questions, held_out = _round_questions(ctx, qids)
    engine = HttpRetriever(url, max_batch=max_batch)
    engine.name = name  # the run files name the served version, not a port that changes every round
    with progress_bar(len(qids), "agents via the service", enabled=ctx.progress) as update:
        summary = simulate(world, questions, engine, ctx.values.agent, ctx.seed, out, update, held_out)
    return {"agent": "simulated", "success": summary["success"], "avg_searches": summary["avg_searches"],
            "avg_browses": summary["avg_browses"], "seconds": summary["seconds"]}


def _llm_agent(ctx: Ctx, qids: list[str], url: str, out: Path) -> dict[str, Any]:
    from lrat.agent.command import llm_runner
    from lrat.agent.runner import read_questions, run_all

    queries = ctx.values.data.queries
    wanted = set(qids)
    asked = [q for q in read_questions(queries) if q.qid in wanted]
    client, tools, settings, metadata, concurrency = llm_runner(ctx.values, str(ctx.cfg.llm_url),
                                                                 str(ctx.cfg.llm_model), url, out)
    with progress_bar(len(asked), "agent runs", "question", enabled=ctx.progress) as update:
        summary = run_all(asked, client, tools, settings, out, metadata, "exact", concurrency, update)
    if summary["failed"]:
        raise RuntimeError(f"{summary['failed']} of {summary['questions']} agent runs failed (see {out}/summary.json)"
                           "; re-run with --resume to retry them")
    return {"agent": "llm", "success": summary.get("accuracy"), "run_files": summary["run_files"]}


# ingest, mine, validate --------------------------------------------------------------------------------------------


def ingest(ctx: Ctx, n: int) -> dict[str, Any]:
    from lrat.ingest.runner import ingest_stage

    rd = ctx.rounds.round_dir(n)
    source, fmt = (rd / "capture", "service") if ctx.cfg.collect == "service" else (rd / "runs", None)
    if not source.is_dir():
        raise FileNotFoundError(f"round {n}: {source} is missing: nothing was collected (re-run with --resume after "
                                "removing the round's collect marker, or --restart)")
    summary = ingest_stage([source], rd / "ingested", ctx.values, fmt=fmt, progress=False)
    return {"trajectories": summary["trajectories"], "rejected": summary["rejected"]}


def window(cfg: Flywheel, n: int) -> list[int]:
    """The rounds whose trajectories train round ``n``'s challenger."""
    return list(range(1, n + 1)) if cfg.window is None else list(range(max(1, n - cfg.window + 1), n + 1))


def mine(ctx: Ctx, n: int) -> dict[str, Any]:
    from lrat.mining.stage import mine_stage

    rd = ctx.rounds.round_dir(n)
    rounds = window(ctx.cfg, n)
    sources = [ctx.rounds.round_dir(r) / "ingested" / "trajectories.jsonl" for r in rounds]
    if len(sources) == 1:
        trajectories = sources[0]
    else:
        trajectories = rd / "labels" / "window_trajectories.jsonl"
        trajectories.parent.mkdir(parents=True, exist_ok=True)
        from lrat.io import atomic_open

        with atomic_open(trajectories) as sink:
            for source in sources:
                with source.open(encoding="utf-8") as fh:
                    shutil.copyfileobj(fh, sink)
    # The flywheel keeps its own verdict cache: the pipeline's is a DVC output that `dvc repro` must find as it
    # left it.
    summary = mine_stage(trajectories, ctx.values.data.corpus, rd / "labels" / "labels.jsonl", ctx.values,
                         rd / "labels" / "mining.json",
                         overrides={"judge_cache": str(ctx.cfg.dir / "verdicts.sqlite")}, progress=False)
    return {"rounds": rounds, "trajectories": summary["trajectories"]["used"], "rows": summary["rows"],
            "satisfied_ratio": summary["satisfied_ratio"], "evidence_retention": summary["evidence_retention"]}


class LabelsRejected(RuntimeError):
    """The round's labels failed the Great Expectations gate: no challenger is trained from them."""


def validate(ctx: Ctx, n: int) -> dict[str, Any]:
    from lrat.validation.gate import validate as run_validate
    from lrat.validation.report import failure_lines

    rd = ctx.rounds.round_dir(n)
    data = ctx.values.data
    result = run_validate(rd / "labels" / "labels.jsonl", bounds=ctx.values.validate_,
                          qrels_evidence=data.qrels_evidence, out=rd / "validation.json",
                          report=rd / "validation.md", corpus=data.corpus)
    if not result["success"]:
        raise LabelsRejected("\n".join([f"round {n}: the labels failed validation ({rd / 'validation.md'}); no "
                                        "challenger is trained and the champion stays:", *failure_lines(result)]))
    return {"status": "passed", "rows": result["rows"]}


# train, register, evaluate, promote --------------------------------------------------------------------------------


def train(ctx: Ctx, n: int, parent_run: str | None) -> dict[str, Any]:
    from lrat.registry.store import CHAMPION
    from lrat.training.train import train as run_train

    rd = ctx.rounds.round_dir(n)
    cfg = ctx.values.train
    start = cfg.base_model
    if ctx.cfg.init == "champion":
        champion = ctx.registry.by_alias(CHAMPION)
        start = champion.uri if champion else cfg.base_model
    cfg = cfg.model_copy(update={"base_model": start, "experiment": ctx.cfg.experiment, "max_rows": ctx.cfg.max_rows})
    tags = {"flywheel.round": str(n), **({"mlflow.parentRunId": parent_run} if parent_run else {})}
    summary = run_train(rd / "labels" / "labels.jsonl", rd / "model", cfg, name=f"round-{n:02d}-train",
                        mining_metrics=rd / "labels" / "mining.json", tags=tags, progress=ctx.progress,
                        validation=rd / "validation.json", corpus=ctx.values.data.corpus)
    return {"run_id": summary["run_id"], "start": start, "rows": summary["rows"], "steps": summary["steps"],
            "train_loss": summary["train_loss"], "seconds": summary["seconds"]}


def register(ctx: Ctx, n: int, parent_run: str | None) -> dict[str, Any]:
    from lrat.registry.candidates import register_folder

    version, _ = register_folder(ctx.registry, ctx.rounds.round_dir(n) / "model", ctx.settings.context)
    ctx.registry.tag(version.version, {"flywheel.round": str(n), **({"flywheel.run_id": parent_run}
                                                                     if parent_run else {})})
    return {"version": version.version, "uri": version.uri}


def evaluate(ctx: Ctx, n: int, version: str) -> dict[str, Any]:
    """The gate's fresh paired evaluation of challenger and champion, saved before any alias moves."""
    from lrat.io import write_json
    from lrat.registry.promotion import judge

    record = judge(ctx.registry.get(version), f"flywheel round {n}", ctx.settings, ctx.registry, ctx.progress)
    write_json(ctx.rounds.round_dir(n) / "decision.json", record)
    return {"decision": record["decision"], "champion_version": record["champion"].get("version")}


def promote(ctx: Ctx, n: int) -> dict[str, Any]:
    """The saved decision's alias moves; when @champion changed since it was judged (another promotion on the
    same registry), the round's model is judged again against the new champion, as `lrat promote` does."""
    from lrat.flywheel.state import read_json
    from lrat.io import write_json
    from lrat.registry.promotion import settle
    from lrat.registry.record import record_decision

    rd = ctx.rounds.round_dir(n)
    record = read_json(rd / "decision.json")
    candidate = ctx.registry.get(str(record["candidate"]["version"]))
    record = settle(record, candidate, f"flywheel round {n}", ctx.settings, ctx.registry, ctx.progress,
                    saved=lambda again: write_json(rd / "decision.json", again))
    record = record_decision(record, ctx.settings.experiment, ctx.registry, ctx.root, rd / "promotion.json",
                             rd / "promotion.md")
    return {"decision": record["decision"], "champion_version": record["aliases"].get("champion"),
            "failed": [c["name"] for c in record["checks"] if c["passed"] is False],
            "promotion_run_id": record.get("promotion_run_id")}


# versioning ---------------------------------------------------------------------------------------------------------


def version_round(ctx: Ctx, n: int) -> dict[str, Any]:
    """`dvc add` the finished round's folder: its runs, trajectories, labels and model become one content-addressed
    DVC output (``round-NN.dvc``, to commit with git), restorable with `dvc checkout`."""
    if not ctx.cfg.dvc:
        return {"dvc": None, "why": "flywheel.dvc is off"}
    rd = ctx.rounds.round_dir(n)
    if not (ctx.root / ".dvc").is_dir():
        raise ValueError(f"{ctx.root} is not a DVC repository (no .dvc/): run `dvc init`, or set flywheel.dvc: false")
    exe = shutil.which("dvc", path=str(Path(sys.executable).parent)) or shutil.which("dvc") or "dvc"
    done = subprocess.run([exe, "add", "--quiet", str(rd.resolve().relative_to(ctx.root.resolve()))], cwd=ctx.root,
                          capture_output=True, text=True)
    if done.returncode != 0:
        raise RuntimeError(f"dvc add {rd} failed:\n{done.stderr.strip()[-2000:]}")
    import yaml

    dvc_file = rd.with_name(rd.name + ".dvc")
    out = (yaml.safe_load(dvc_file.read_text(encoding="utf-8")) or {}).get("outs", [{}])[0]
    return {"dvc": str(dvc_file), "md5": out.get("md5"), "files": out.get("nfiles"), "bytes": out.get("size")}
