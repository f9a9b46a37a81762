"""`lrat simulate world` and `lrat simulate agent`: the embedded default's two DVC stages."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from lrat.cli_errors import usage_errors
from lrat.cli_options import PARAMS, JsonOption, ParamsOption, QuietOption

if TYPE_CHECKING:
    from lrat.settings import Settings

simulate_app = typer.Typer(
    no_args_is_help=True, rich_markup_mode=None,
    help="Generate the embedded default: a research world and a simulated search agent that writes real run files.",
)

SEED = Annotated[int | None, typer.Option(help="Random seed (default: `seed` in params.yaml).")]
IF_SIMULATED = Annotated[bool, typer.Option("--if-simulated", help="Do nothing but say so (a note in --out and "
                                            "--metrics) when params.yaml's data.source is not 'simulated': the "
                                            "pipeline's simulator stages use it, so with your own logs nothing "
                                            "downstream depends on them.")]


def skipped_by_source(settings: Settings, out: Path, metrics: Path | None, stage: str) -> bool:
    """True (and a note left in ``out`` and ``metrics``) when the pipeline runs on the user's own logs."""
    from lrat.io import write_json

    source = settings.data.source
    if source == "simulated":
        return False
    note = {"skipped": f"data.source is {source}: the pipeline reads your files (params.yaml data:), not the "
                       f"simulator's {stage}", "stage": stage}
    write_json(out / "SKIPPED.json", note)
    if metrics is not None:
        write_json(metrics, note)
    typer.echo(f"{stage}: skipped ({note['skipped']})", err=True)
    return True


@simulate_app.command("world")
def world_command(
    out: Annotated[Path, typer.Option(help="Folder for corpus.jsonl, queries.tsv, qrels, ground_truth, splits.")] = (
        Path("data/world")
    ),
    seed: SEED = None,
    metrics: Annotated[Path | None, typer.Option(help="Where to write the world statistics JSON.")] = (
        Path("metrics/world.json")
    ),
    retriever: Annotated[str, typer.Option(
        help="Retriever whose held-out evidence recall is measured ('' = none).")] = "base",
    params: ParamsOption = PARAMS,
    if_simulated: IF_SIMULATED = False,
    quiet: QuietOption = False,
    json_out: JsonOption = False,
) -> None:
    """Generate a deterministic world: documents about made-up entities, multi-hop questions, evidence, splits.

    Sizes come from `world:` in params.yaml. Also measures the base retriever's evidence recall@10 on the
    held-out questions (metrics/world.json).
    """
    from lrat.settings import load_settings
    from lrat.simulate.pipeline import build_world

    with usage_errors():
        settings = load_settings(params)
        if if_simulated and skipped_by_source(settings, out, metrics, "world"):
            return
    stats = build_world(out, seed if seed is not None else settings.seed, settings.world, metrics,
                        settings.retrieval.cache_dir, retriever, progress=not quiet)
    if json_out:
        typer.echo(json.dumps(stats, indent=2))
        return
    recall = (stats.get("base_retriever") or {}).get("test", {}).get("recall@10")
    typer.echo(f"{stats['documents']} documents, {stats['questions']} questions -> {out}"
               + (f"; base retriever test evidence recall@10 = {recall}" if recall is not None else ""), err=True)


@simulate_app.command("agent")
def agent_command(
    world: Annotated[Path, typer.Option(help="A folder written by `lrat simulate world`.", file_okay=False)] = (
        Path("data/world")
    ),
    split: Annotated[str, typer.Option(help="Questions to run: train, dev, test or all.")] = "train",
    retriever: Annotated[str, typer.Option(help="'base', a Hugging Face id (org/name[@rev]), a model folder, an "
                                           "MLflow model URI (models:/...), the URL of a running lrat search "
                                           "service, or 'oracle'.")] = "base",
    out: Annotated[Path, typer.Option(help="Folder for the run files (one run_<qid>.json per question).")] = (
        Path("data/runs/sim")
    ),
    seed: SEED = None,
    metrics: Annotated[Path | None, typer.Option(help="Where to write the run statistics JSON.")] = None,
    limit: Annotated[int | None, typer.Option(help="Run only the first N questions of the split.", min=1)] = None,
    params: ParamsOption = PARAMS,
    if_simulated: IF_SIMULATED = False,
    quiet: QuietOption = False,
    json_out: JsonOption = False,
) -> None:
    """Run the simulated search agent (think → search → browse → answer) on a split of the world's questions.

    Writes BrowseComp-Plus run files in the LRAT authors' format (`DocID:` results, `get_document` browses),
    which `lrat ingest` reads like any real agent's logs. Behaviour settings: `agent:` in params.yaml.
    """
    from lrat.settings import load_settings
    from lrat.simulate.pipeline import run_agents

    with usage_errors():
        settings = load_settings(params)
        if if_simulated and skipped_by_source(settings, out, metrics, "trajectories"):
            return
        if not world.is_dir():
            raise FileNotFoundError(f"world folder {world} not found: run `lrat simulate world --out {world}`")
        summary = run_agents(world, split, retriever, out, seed if seed is not None else settings.seed,
                             settings.agent, metrics, settings.retrieval.cache_dir, limit, progress=not quiet,
                             encoding=settings.retrieval.encoding)
    if json_out:
        typer.echo(json.dumps(summary, indent=2))
    else:
        typer.echo(f"{summary['trajectories']} runs -> {out} (success {summary['success']}, "
                   f"{summary['avg_searches']} searches and {summary['avg_browses']} browses per run, "
                   f"{summary['trajectories_per_second']} runs/s)", err=True)
