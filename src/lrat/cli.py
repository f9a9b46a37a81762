"""The ``lrat`` command line: one subcommand per pipeline stage, each a thin shell over a plain function.

Heavy libraries (torch, mlflow, bentoml) are imported inside the commands that need them, so ``lrat --help``
starts fast.
"""

from __future__ import annotations

import json
from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer

import lrat  # (applies the offline switches before anything else is imported)

app = typer.Typer(
    no_args_is_help=True,
    add_completion=False,
    rich_markup_mode=None,
    help="LRAT: learn a better retriever from the trajectories your search agents already write.\n\n"
    "Each subcommand is one stage of the DVC pipeline (dvc.yaml); `dvc repro` runs them in order.",
)


@app.callback()
def _root(
    version: Annotated[bool, typer.Option("--version", help="Print the version and exit.")] = False,
) -> None:
    if version:
        typer.echo(lrat.__version__)
        raise typer.Exit()


class Format(StrEnum):
    auto = "auto"
    bcp = "bcp"
    search_r1 = "search-r1"
    openai_chat = "openai-chat"
    native = "native"


def _params_section(path: Path, section: str) -> dict:
    if not path.exists():
        return {}
    import yaml

    data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    return data.get(section) or {}




@app.command()
def ingest(
    inputs: Annotated[
        list[Path],
        typer.Argument(help="Trajectory files or directories (walked recursively for .json/.jsonl/.ndjson/.txt).",
                       exists=True, show_default=False),
    ],
    out: Annotated[Path, typer.Option("--out", help="Output directory for trajectories/rejects/summary.")],
    format: Annotated[Format, typer.Option("--format", help="Input format; auto detects per file and line.")] = (
        Format.auto
    ),
    corpus: Annotated[Path | None, typer.Option(help="corpus.jsonl {docid, text, title?, url?}: maps URLs and "
                                                "rendered titles to docids.", exists=True, dir_okay=False)] = None,
    queries: Annotated[Path | None, typer.Option(help="queries.tsv (query_id<TAB>query): fills missing questions.",
                                                 exists=True, dir_okay=False)] = None,
    qrels_evidence: Annotated[Path | None, typer.Option(help="TREC qrels of evidence docs (analysis only).",
                                                        exists=True, dir_okay=False)] = None,
    qrels_golds: Annotated[Path | None, typer.Option(help="TREC qrels of gold (answer-bearing) docs.",
                                                     exists=True, dir_okay=False)] = None,
    ground_truth: Annotated[Path | None, typer.Option(help="ground_truth.jsonl {query_id, query, answer}.",
                                                      exists=True, dir_okay=False)] = None,
    fail_on_reject: Annotated[bool, typer.Option("--fail-on-reject", help="Exit 1 if any record was rejected.")] = (
        False
    ),
    json_out: Annotated[bool, typer.Option("--json", help="Print the summary as JSON on stdout.")] = False,
    params: Annotated[Path, typer.Option(help="params.yaml whose `ingest:` section names the search/browse "
                                         "tools.")] = Path("params.yaml"),
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No per-reject messages or progress bar.")] = False,
) -> None:
    """Normalize agent logs (BC+ run files, Search-R1, OpenAI chat, native) into trajectories.jsonl.

    Every record that cannot be read goes to rejects.jsonl with its file, line and the reason; the good records
    of the same run are all kept. Exit 0 when the run completes, 1 with --fail-on-reject if anything was
    rejected, 2 on usage errors.
    """
    from lrat.ingest.runner import UsageError
    from lrat.ingest.runner import ingest as run_ingest
    from lrat.ingest.tools import ToolNames

    def log(message: str) -> None:
        if not quiet:
            typer.echo(message, err=True)

    try:
        summary = run_ingest(
            inputs, out, format.value, corpus, queries, qrels_evidence, qrels_golds, ground_truth,
            tools=ToolNames.from_params(_params_section(params, "ingest")), progress=not quiet, log=log,
        )
    except UsageError as exc:
        typer.echo(f"Error: {exc}", err=True)
        raise typer.Exit(2) from None
    if json_out:
        typer.echo(json.dumps(summary, indent=2))
    else:
        typer.echo(
            f"{summary['trajectories']} trajectories, {summary['rejected']} rejected, from {summary['inputs']} "
            f"file(s) -> {out}/trajectories.jsonl",
            err=True,
        )
    if fail_on_reject and summary["rejected"]:
        raise typer.Exit(1)


from lrat.analyze.command import analyze_command  # noqa: E402  (light: heavy imports live inside)
from lrat.evaluation.command import evaluate_command  # noqa: E402
from lrat.mining.command import mine_command  # noqa: E402
from lrat.simulate.command import simulate_app  # noqa: E402
from lrat.training.command import ablation_command, train_command  # noqa: E402
from lrat.validation.command import validate_command  # noqa: E402

app.add_typer(simulate_app, name="simulate")
app.command("analyze")(analyze_command)
app.command("mine")(mine_command)
app.command("validate")(validate_command)
app.command("train")(train_command)
app.command("evaluate")(evaluate_command)
app.command("ablation")(ablation_command)


def main() -> None:
    app()


if __name__ == "__main__":
    main()
