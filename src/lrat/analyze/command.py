"""The ``lrat analyze`` command, left undecorated so the main app registers it with
``app.command("analyze")(analyze_command)``; heavy libraries load only when it runs."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer

from lrat.cli_options import JsonOption


def _fmt(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.2f}"


def summary_line(stats: dict[str, Any], out: Path) -> str:
    """The few numbers a person checks first, and where the rest went."""
    runs, paper = stats["runs"], stats["paper"]
    lengths = stats["reasoning_length"]
    return (
        f"{stats['n_trajectories']} trajectories "
        f"({runs['correct']['n']} correct, {runs['incorrect']['n']} incorrect): "
        f"browses/search {_fmt(runs['all']['browses_per_search'])} "
        f"(paper {paper['runs']['correct']['browses_per_search']:.2f} correct / "
        f"{paper['runs']['incorrect']['browses_per_search']:.2f} incorrect); "
        f"position-bias ratio {_fmt(stats['browse_by_rank']['position_bias_ratio'])} "
        f"(paper {paper['browse_by_rank']['position_bias_ratio']:.2f}); "
        f"reasoning evidence/non-evidence {_fmt(lengths['evidence_ratio'])} "
        f"(paper {paper['reasoning_length']['evidence_ratio']:.2f})\n"
        f"-> {out / 'analysis.json'}, {out / 'report.md'} and 4 plots in {out}"
    )


def analyze_command(
    trajectories: Annotated[Path, typer.Option("--trajectories", help="Normalized trajectories.jsonl (from "
                                               "`lrat ingest` or `lrat simulate`).", exists=True, dir_okay=False,
                                               show_default=False)],
    out: Annotated[Path, typer.Option("--out", help="Directory for analysis.json, the plots and report.md.")] = (
        Path("reports")
    ),
    qrels_evidence: Annotated[Path | None, typer.Option("--qrels-evidence", help="TREC qrels of evidence docs; "
                                                        "default: each record's gold_evidence_ids.", exists=True,
                                                        dir_okay=False)] = None,
    tokenizer: Annotated[Path | None, typer.Option("--tokenizer", help="Local Hugging Face tokenizer directory for "
                                                   "reasoning lengths; default: a fast regex approximation.")] = None,
    json_out: JsonOption = False,
) -> None:
    """Measure agent behaviour (searches/browses, transitions, position bias, post-browse reasoning length) and
    compare it with the LRAT paper; writes analysis.json, four PNG plots and report.md.

    Exit 0 on success, 1 when a trajectories line cannot be read, 2 on usage errors.
    """
    from lrat.analyze.run import TokenizerError, analyze

    try:
        stats = analyze(trajectories, out, qrels_evidence, None if tokenizer is None else str(tokenizer))
    except TokenizerError as exc:
        raise typer.BadParameter(str(exc), param_hint="--tokenizer") from None
    except ValueError as exc:
        typer.echo(f"Error: {exc}", err=True)
        raise typer.Exit(1) from None
    if json_out:
        typer.echo(json.dumps(stats, indent=2, ensure_ascii=False))
    else:
        typer.echo(summary_line(stats, out), err=True)
