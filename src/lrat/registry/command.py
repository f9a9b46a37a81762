"""The ``lrat register`` and ``lrat promote`` commands, left undecorated so cli.py registers them; MLflow, torch and
the evaluation load only when they run."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from lrat.cli_errors import usage_error, usage_errors
from lrat.cli_options import PARAMS, JsonOption, ParamsOption, QuietOption, quiet_libraries


def register_command(
    model_dir: Annotated[Path, typer.Option("--model-dir", help="A model folder written by `lrat train` (its "
                                            "lrat_train.json names the MLflow run whose model is registered).")] = (
        Path("models/lrat")
    ),
    out: Annotated[Path | None, typer.Option("--out", help="Where to write the registered version as JSON.")] = (
        Path("metrics/register.json")
    ),
    params: ParamsOption = PARAMS,
    json_out: JsonOption = False,
    quiet: QuietOption = False,
) -> None:
    """Register the model of the training run that wrote --model-dir as a new version of the registered model
    (`registry.name`, default lrat-retriever) with alias @challenger.

    The version carries the run's lineage as tags (git commit, dvc.lock hashes of trajectories, labels and model,
    labels SHA-256, params digest, label validation) and a one-line description with its held-out scores.
    Registering the same run again returns the same version. Store: $MLFLOW_TRACKING_URI, else mlflow.db here.
    Exit 0 on success, 2 on usage or tracking-store errors.
    """
    from lrat.io import write_json

    with usage_errors():
        from lrat.registry.candidates import Context, register_folder
        from lrat.registry.store import Registry
        from lrat.settings import load_settings

        names = load_settings(params).registry
        registry = Registry(names.name)
        version, created = register_folder(registry, model_dir, Context(Path.cwd(), params, names.import_experiment))
    result = {**version.brief(), "created": created, "description": version.description, "tags": version.tags}
    if out is not None:
        write_json(out, result)
    if json_out:
        typer.echo(json.dumps(result, indent=2))
    if not quiet:
        verb = "registered" if created else "already registered as"
        typer.echo(f"{verb} {version.name} version {version.version} (@challenger) from run {version.run_id}: "
                   f"{version.description}", err=True)


def promote_command(
    candidate: Annotated[str | None, typer.Option("--candidate", help="What to put through the gate: 'base', a "
                                                  "Hugging Face id (org/name[@rev]), a model folder or an MLflow "
                                                  "URI (models:/NAME/VERSION, "
                                                  "models:/NAME@ALIAS, runs:/RUN/model); a folder, id or base is "
                                                  "registered first. [default: @challenger]",
                                                  show_default=False)] = None,
    rollback: Annotated[bool, typer.Option("--rollback", help="Move @champion back to @previous instead (exit 1 "
                                           "when there is nothing to roll back to).")] = False,
    report: Annotated[Path, typer.Option("--report", help="Markdown report of the decision.")] = (
        Path("reports/promotion.md")
    ),
    metrics: Annotated[Path, typer.Option("--metrics", help="The decision as JSON (a DVC metric).")] = (
        Path("metrics/promotion.json")
    ),
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Evaluate and decide, write --report and --metrics, "
                                          "and leave the registry exactly as it is: no alias, version, tag or "
                                          "MLflow run is written (a candidate that is not registered is evaluated "
                                          "as named). Exit 0 would promote (or already champion), 1 would refuse. "
                                          "What a pull request runs.")] = False,
    allow_refusal: Annotated[bool, typer.Option("--allow-refusal", help="Exit 0 when the gate refuses (the DVC "
                                                "stage uses it so a refusal does not break `dvc repro`; CI does "
                                                "not).")] = False,
    world: Annotated[Path | None, typer.Option(help="A benchmark folder in the world layout (corpus.jsonl, "
                                               "queries.tsv, qrel_evidence.txt, splits.json; simulation.json for "
                                               "the agent-level checks). Default: the files `data:` in params.yaml "
                                               "names and data/split/splits.json (`lrat split`).",
                                               show_default=False)] = None,
    params: ParamsOption = PARAMS,
    json_out: JsonOption = False,
    quiet: QuietOption = False,
) -> None:
    """Decide whether the candidate replaces @champion, from a fresh paired evaluation of both on the same
    held-out questions (the base model stands in while there is no champion).

    The gate (params.yaml `promote:`): a minimum relative gain on the primary metric (search_recall@10: the
    held-out questions' logged searches replayed; recall@10 when there are none) with p < alpha,
    no other offline metric worse beyond a tolerance, the candidate's labels passed validation, and no agent-level
    regression (success, searches per question) where the world supports the simulated agent. Promotion moves
    @previous to the old champion, then @champion to the candidate. Every decision is recorded in --metrics,
    --report and an MLflow run (experiment lrat-promotion).

    Aliases move under a lock held in the registry (one promotion or rollback at a time), and only if @champion is
    still the one the candidate was evaluated against: when another promotion moved it meanwhile, the candidate is
    evaluated again against the new champion (a rollback whose champion changed stops with exit 2 instead).

    Exit 0: promoted (or already champion, or rolled back). Exit 1: refused, nothing in the registry changed
    (0 with --allow-refusal), or nothing to roll back to. Exit 2: usage or tracking-store error. With --dry-run
    the same codes say what would happen.
    """
    if rollback and candidate is not None:
        raise usage_error("--rollback and --candidate exclude each other")
    if rollback and dry_run:
        raise usage_error("--rollback and --dry-run exclude each other")
    quiet_libraries(quiet)
    with usage_errors():
        from lrat.registry import promotion
        from lrat.registry.record import record_decision, write_records
        from lrat.registry.store import Registry, RegistryError, StaleChampion
        from lrat.settings import load_settings

        settings = promotion.Settings.from_settings(load_settings(params), params, world)
        registry = Registry(settings.registry)
        if rollback:
            try:
                record = promotion.rollback(settings, registry)
            except StaleChampion:
                raise  # exit 2: decided against a champion that is gone
            except RegistryError as exc:
                typer.echo(f"Error: {exc}", err=True)
                raise typer.Exit(1) from None
        else:
            record = promotion.promote(candidate, settings, registry, progress=not quiet, dry_run=dry_run)
        if dry_run:
            write_records(record, metrics, report)
        elif record["decision"] != promotion.UNCHANGED:
            record = record_decision(record, settings.experiment, registry, settings.context.root, metrics, report)
    if json_out:
        typer.echo(json.dumps(record, indent=2))
    _say(record, metrics, report)
    if record["decision"] == promotion.REFUSED and not allow_refusal:
        raise typer.Exit(1)


def _say(record: dict, metrics: Path, report: Path) -> None:
    cand, champ = record["candidate"], record["champion"]
    who = f"version {champ['version']}" if champ.get("version") else f"the base model ({champ.get('spec')})"
    decision = record["decision"]
    name = f"version {cand['version']}" if cand.get("version") else f"{cand.get('spec')} (not registered)"
    for check in record["checks"]:
        if check["passed"] is False:
            typer.echo(f"FAILED {check['name']}: observed {check['observed']}, required {check['op']} "
                       f"{check['threshold']} ({check['detail']})", err=True)
    if record.get("dry_run"):
        verdict = {"promoted": f"WOULD PROMOTE {name} over {who}", "refused": f"WOULD REFUSE {name} against {who}",
                   "unchanged": f"{name} already is @champion"}
        typer.echo(f"DRY RUN: {verdict.get(decision, decision)}; registry unchanged -> {metrics}, {report}",
                   err=True)
        return
    if decision == "unchanged":
        typer.echo(f"{record['reason']} (promoted by MLflow run {record.get('promotion_run_id') or 'unknown'})",
                   err=True)
        return
    if decision == "promoted":
        line = f"PROMOTED version {cand['version']} to @champion over {who}"
    elif decision == "refused":
        failed = sum(c["passed"] is False for c in record["checks"])
        line = f"REFUSED version {cand['version']} against {who}: {failed} check(s) failed; registry unchanged"
    else:
        line = f"ROLLED BACK: @champion is version {cand['version']} again (was version {champ['version']})"
    typer.echo(f"{line} -> {metrics}, {report}; MLflow run {record.get('promotion_run_id')}", err=True)
