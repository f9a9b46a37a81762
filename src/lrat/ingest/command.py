"""The ``lrat ingest`` command, left undecorated so cli.py registers it with
``app.command("ingest")(ingest_command)``; the readers load only when it runs."""

from __future__ import annotations

import json
from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer

from lrat.cli_errors import usage_errors
from lrat.cli_options import PARAMS, JsonOption, ParamsOption, QuietOption


class Format(StrEnum):
    auto = "auto"
    bcp = "bcp"
    search_r1 = "search-r1"
    openai_chat = "openai-chat"
    native = "native"
    service = "service"


def ingest_command(
    inputs: Annotated[
        list[Path],
        typer.Argument(help="Trajectory files or directories (walked recursively for .json/.jsonl/.ndjson/.txt).",
                       exists=True, show_default=False),
    ],
    out: Annotated[Path, typer.Option("--out", help="Output directory for trajectories/rejects/summary.")],
    format: Annotated[Format | None, typer.Option("--format", help="Input format; auto detects per file and line. "
                                                  "service: capture shards from `lrat serve --capture` (auto "
                                                  "finds them too). "
                                                  "[default: ingest.format in params.yaml, auto]",
                                                  show_default=False)] = None,
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
    json_out: JsonOption = False,
    params: ParamsOption = PARAMS,
    quiet: QuietOption = False,
) -> None:
    """Normalize agent logs (BC+ run files, Search-R1, OpenAI chat, native, service capture) into trajectories.jsonl.

    Every record that cannot be read goes to rejects.jsonl with its file, line and the reason; the good records
    of the same run are all kept. Exit 0 when the run completes, 1 with --fail-on-reject if anything was
    rejected, 2 on usage errors, including a corpus or benchmark files that evidently belong to other runs.
    """
    from lrat.ingest.runner import ingest_stage
    from lrat.settings import load_settings

    def log(message: str) -> None:
        if not quiet:
            typer.echo(message, err=True)

    files = {"corpus": corpus, "queries": queries, "qrels_evidence": qrels_evidence, "qrels_golds": qrels_golds,
             "ground_truth": ground_truth}
    with usage_errors():
        summary = ingest_stage(inputs, out, load_settings(params), format.value if format else None, files,
                               progress=not quiet, log=log, warn=lambda message: typer.echo(message, err=True))
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


