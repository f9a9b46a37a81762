"""`lrat flywheel`: the command; the loop is `lrat.flywheel.loop.run_flywheel`."""

from __future__ import annotations

import contextlib
import json
import signal
import sys
from pathlib import Path
from typing import Annotated, Any

import typer

from lrat.cli_errors import usage_errors
from lrat.cli_options import PARAMS, JsonOption, ParamsOption, QuietOption, quiet_libraries


def _sigterm(*_: Any) -> None:
    raise KeyboardInterrupt("SIGTERM")


def flywheel_command(
    rounds: Annotated[int, typer.Option("--rounds", min=1, help="Rounds to have finished when the command ends "
                                        "(finished rounds are not redone).")] = 3,
    resume: Annotated[bool, typer.Option("--resume", help="Continue the flywheel in flywheel.dir from its last "
                                         "finished stage (after Ctrl-C, a kill, or for more rounds).")] = False,
    restart: Annotated[bool, typer.Option("--restart", help="Delete flywheel.dir and start a new flywheel (the "
                                          "registry keeps its versions and aliases).")] = False,
    world: Annotated[Path, typer.Option(help="The world (or benchmark folder): questions of flywheel.split for the "
                                        "agent, held-out questions of promote.split for the gate.")] = (
        Path("data/world")),
    params: ParamsOption = PARAMS,
    quiet: QuietOption = False,
    json_out: JsonOption = False,
) -> None:
    """Run the data flywheel: each round serves the champion with a real `bentoml serve`, lets the agent answer a
    fresh batch of training questions through it (the simulated agent, or `lrat agent` when flywheel.agent is
    llm), ingests and mines the new trajectories (the last flywheel.window rounds), validates the labels (Great
    Expectations), trains a challenger, and puts it through the promotion gate.

    Every round is a parent MLflow run (experiment flywheel.experiment) with a child run per stage; a finished
    round's folder (runs, trajectories, labels, model) is `dvc add`-ed as data/flywheel/round-NN.dvc. Results:
    metrics/flywheel.json, reports/flywheel.md, reports/flywheel.png. Interrupted (Ctrl-C, SIGTERM, a killed
    process), `--resume` continues from the last finished stage; the registry always keeps a valid champion.

    Exit 0 when all rounds finished, 1 when a round's labels failed validation (the champion stays), 2 on usage
    errors, 130 when interrupted.
    """
    quiet_libraries(quiet)
    with usage_errors():
        ctx = make_context(params, world, progress=not quiet)
    from lrat.flywheel.loop import run_flywheel
    from lrat.flywheel.stages import LabelsRejected

    previous = signal.signal(signal.SIGTERM, _sigterm)
    try:
        # stdout carries only the --json report: whatever the libraries print goes to stderr
        with usage_errors(), contextlib.redirect_stdout(sys.stderr):
            report = run_flywheel(ctx, rounds, resume=resume, restart=restart)
    except KeyboardInterrupt:
        typer.echo(f"\ninterrupted: finished stages are kept in {ctx.cfg.dir}; continue with "
                   f"`lrat flywheel --rounds {rounds} --resume`", err=True)
        raise typer.Exit(130) from None
    except LabelsRejected as exc:
        typer.echo(f"Error: {exc}", err=True)
        raise typer.Exit(1) from None
    finally:
        signal.signal(signal.SIGTERM, previous)
    if json_out:
        typer.echo(json.dumps(report, indent=2))
    s = report["summary"]
    champion = f"v{s['champion_version']}" if s["champion_version"] else "the base model (no promotion yet)"
    typer.echo(f"{s['rounds']} round(s), {s['promotions']} promotion(s); champion {champion}; "
               f"held-out recall@10 {s['recall@10_start']} -> {s['recall@10_end']}, agent success "
               f"{s['agent_success_start']} -> {s['agent_success_end']}. Results: {ctx.cfg.metrics}, "
               f"{ctx.cfg.report}, {ctx.cfg.plot}", err=True)


def make_context(params: Path, world: Path, progress: bool = True, log: Any = None) -> Any:
    from lrat.flywheel.config import check_flywheel
    from lrat.flywheel.stages import Ctx
    from lrat.flywheel.state import Rounds
    from lrat.registry.promotion import Settings
    from lrat.registry.store import Registry
    from lrat.settings import load_settings

    values = load_settings(params)
    cfg = check_flywheel(values.flywheel)
    if not (world / "splits.json").is_file():
        raise FileNotFoundError(f"{world / 'splits.json'} not found: the flywheel needs a world or benchmark folder "
                                "(`dvc repro world` writes data/world)")
    settings = Settings.from_settings(values, params, world)
    return Ctx(root=Path.cwd(), params_path=params, values=values, cfg=cfg, world=world, rounds=Rounds(cfg.dir),
               settings=settings, registry=Registry(settings.registry), progress=progress,
               log=log or (lambda message: typer.echo(message, err=True)))
