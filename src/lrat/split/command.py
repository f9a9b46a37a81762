"""The ``lrat split`` command, registered by cli.py; the split itself is `lrat.split.make.make_split`."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from lrat.cli_errors import usage_errors
from lrat.cli_options import PARAMS, JsonOption, ParamsOption, QuietOption


def split_command(
    out: Annotated[Path, typer.Option("--out", help="Folder for splits.json.")] = Path("data/split"),
    trajectories: Annotated[Path | None, typer.Option(help="Normalized trajectories (`lrat ingest`): reports the "
                                                      "held-out questions the logs already answered (`lrat mine "
                                                      "--splits` leaves them out).", dir_okay=False)] = None,
    queries: Annotated[Path | None, typer.Option(help="queries.tsv; default: data.queries in params.yaml.",
                                                 show_default=False)] = None,
    qrels_evidence: Annotated[Path | None, typer.Option("--qrels-evidence", help="Evidence qrels; default: "
                                                        "data.qrels_evidence.", show_default=False)] = None,
    metrics: Annotated[Path | None, typer.Option(help="Where to write the split report JSON.")] = (
        Path("metrics/split.json")
    ),
    params: ParamsOption = PARAMS,
    quiet: QuietOption = False,
    json_out: JsonOption = False,
) -> None:
    """Write the held-out questions every later stage uses (<out>/splits.json: train, test[, dev]).

    data.source simulated: the world's own splits.json. data.source logs: a seeded split by question of the
    questions with evidence qrels (split.test / split.dev shares, `seed`), or split.file when the benchmark ships
    one. Held-out questions that have trajectories in the logs are reported (never trained on: mining leaves them
    out, validation fails on any that reach the labels). Exit 0, 2 on usage errors (unreadable files, queries and
    qrels of two benchmarks, an empty test split).
    """
    from lrat.benchmark import Benchmark
    from lrat.settings import load_settings
    from lrat.split.make import make_split, split_settings

    with usage_errors():
        values = load_settings(params)
        settings = split_settings(values)
        bench = Benchmark.from_settings(values.data)
        queries, qrels_evidence = queries or bench.queries, qrels_evidence or bench.qrels_evidence
        for path in (queries, qrels_evidence, trajectories):
            if path is not None and not path.is_file():
                raise FileNotFoundError(f"{path} not found")
        report = make_split(settings, queries, qrels_evidence, out, trajectories, metrics)
    logs = report.get("logs") or {}
    if logs.get("held_out_questions_with_trajectories"):
        typer.echo(f"Warning: {logs['held_out_questions_with_trajectories']} held-out question(s) have "
                   f"{logs['held_out_trajectories']} trajectories in the logs ({', '.join(logs['examples'])}"
                   f"{', ...' if logs['held_out_questions_with_trajectories'] > len(logs['examples']) else ''}): "
                   "`lrat mine --splits` leaves them out of the labels", err=True)
    if json_out:
        typer.echo(json.dumps(report, indent=2))
    elif not quiet:
        sizes = ", ".join(f"{name} {n}" for name, n in report["splits"].items())
        typer.echo(f"{sizes} questions ({report['from']}) -> {out / 'splits.json'}", err=True)
