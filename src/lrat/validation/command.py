"""The ``lrat validate`` command, left undecorated so the main app registers it with
``app.command("validate")(validate_command)``; Great Expectations and pandas load only when it runs."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from lrat.cli_errors import usage_errors
from lrat.cli_options import PARAMS, JsonOption, ParamsOption


def validate_command(
    labels: Annotated[Path, typer.Option("--labels", help="Mined labels JSONL (from `lrat mine`).", exists=True,
                                         dir_okay=False, show_default=False)],
    out: Annotated[Path, typer.Option("--out", help="Result JSON (a DVC metric).")] = Path("metrics/validation.json"),
    report: Annotated[Path, typer.Option("--report", help="Markdown table of the checks.")] = (
        Path("reports/validation.md")
    ),
    qrels_evidence: Annotated[Path | None, typer.Option("--qrels-evidence", help="TREC qrels of evidence docs for "
                                                        "the retention checks; default: data.qrels_evidence in "
                                                        "--params. Without qrels those checks are skipped.",
                                                        exists=True, dir_okay=False, show_default=False)] = None,
    corpus: Annotated[Path | None, typer.Option("--corpus", help="The corpus compact labels (docids only) were "
                                                "mined from, for their positive texts; default: data.corpus in "
                                                "--params. Unused for labels with texts.", dir_okay=False,
                                                show_default=False)] = None,
    splits: Annotated[Path | None, typer.Option("--splits", help="splits.json (`lrat split`): no label may come "
                                                "from a question of a split other than train (the check names "
                                                "the leaking questions). Without it that check is skipped.",
                                                exists=True, dir_okay=False, show_default=False)] = None,
    params: ParamsOption = PARAMS,
    json_out: JsonOption = False,
) -> None:
    """Check the mined labels against the versioned `lrat_labels` expectation suite (Great Expectations):
    non-empty texts, pos not among its negatives, unique positives per search, negatives for kept rows, weight
    range and per-group mean, satisfied ratio, reasoning-length quantiles, row count, and (with evidence qrels)
    retention of evidence positives, and (with --splits) no row from a held-out question.

    Exit 0 when every check passes (skipped ones do not count), 1 when any fails (one stderr line each),
    2 on usage errors (missing or unreadable files, a bad labels line, bad bounds, compact labels whose corpus
    changed since mining).
    """
    from lrat.settings import load_settings
    from lrat.validation.gate import validate
    from lrat.validation.report import failure_lines

    with usage_errors():
        settings = load_settings(params)
        if qrels_evidence is None and settings.data.given("qrels_evidence"):
            qrels_evidence = settings.data.qrels_evidence
            if not qrels_evidence.is_file():
                raise FileNotFoundError(f"{params} data.qrels_evidence: {qrels_evidence} not found (pass "
                                        "--qrels-evidence)")
        if corpus is None and settings.data.given("corpus"):
            corpus = settings.data.corpus  # read only when the labels are compact
        result = validate(labels, bounds=settings.validate_, qrels_evidence=qrels_evidence, out=out, report=report,
                          corpus=corpus, splits=splits)
    if json_out:
        typer.echo(json.dumps(result, indent=2, ensure_ascii=False))
    for line in failure_lines(result):
        typer.echo(line, err=True)
    checks = result["expectations"]
    passed = sum(e["status"] == "passed" for e in checks)
    skipped = sum(e["status"] == "skipped" for e in checks)
    verdict = "passed" if result["success"] else "FAILED"
    typer.echo(f"validation {verdict}: {passed}/{len(checks) - skipped} checks passed"
               + (f" ({skipped} skipped)" if skipped else "") + f" on {result['rows']} rows -> {out}, {report}",
               err=True)
    if not result["success"]:
        raise typer.Exit(1)
