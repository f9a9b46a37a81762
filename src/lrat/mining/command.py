"""The ``lrat mine`` command, registered by cli.py; mining itself is `lrat.mining.run.mine`."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from lrat.cli_errors import usage_errors
from lrat.cli_options import PARAMS, JsonOption, ParamsOption, QuietOption


def mine_command(
    trajectories: Annotated[Path, typer.Option("--trajectories", help="Normalized trajectories.jsonl from "
                                               "`lrat ingest`.", exists=True, dir_okay=False, show_default=False)],
    corpus: Annotated[Path, typer.Option("--corpus", help="corpus.jsonl {docid, text}: positives and negatives must "
                                         "exist in it; their texts go into the rows (compact rows: its sha256).",
                                         exists=True, dir_okay=False, show_default=False)],
    out: Annotated[Path, typer.Option("--out", help="Labels JSONL to write (rejected input lines go to "
                                      "<out>.rejects.jsonl beside it).", show_default=False)],
    preset: Annotated[str | None, typer.Option(help="official = the authors' builder exactly; lrat = attributed "
                                               "pairing, judge-error policy, per-group weights, provenance "
                                               "(docs: stages/mine). [default: params mine.preset]")] = None,
    pairing: Annotated[str | None, typer.Option(help="latest | attributed: which search a browsed doc is a "
                                                "positive for. [default: the preset's]")] = None,
    negatives: Annotated[str | None, typer.Option(help="episode (official order) | same_search. "
                                                  "[default: the preset's]")] = None,
    judge: Annotated[str | None, typer.Option(help="none (every browse relevant) | heuristic (offline rule on "
                                              "the post-browse reasoning) | openai (any chat-completions "
                                              "endpoint). [default: params mine.judge]")] = None,
    judge_url: Annotated[str | None, typer.Option(help="OpenAI-compatible base URL, e.g. http://host:8000/v1 "
                                                  "(key from $OPENAI_API_KEY or mine.api_key_env).")] = None,
    judge_model: Annotated[str | None, typer.Option(help="Model name sent to the judge endpoint.")] = None,
    judge_cache: Annotated[Path | None, typer.Option(help="SQLite verdict cache keyed by (prompt version, model, "
                                                     "text): re-runs cost no judge calls.")] = None,
    tokenizer: Annotated[str | None, typer.Option(help="'base' (packaged MiniLM) or a local tokenizer folder for "
                                                  "reasoning lengths in tokens.")] = None,
    format: Annotated[str | None, typer.Option("--format", help="lrat (traceable rows with texts; written compact "
                                               "when they would pass mine.compact_above_mb MB, null = never) | "
                                               "compact (lrat rows with docids only and corpus_sha256; training "
                                               "joins the texts from the same corpus) | flagembedding (exactly "
                                               "the released LRAT-Train keys, with texts). [default: params "
                                               "mine.format, else lrat]")] = None,
    splits: Annotated[Path | None, typer.Option("--splits", help="splits.json (`lrat split`): trajectories of "
                                                "questions in any split other than train are left out (held-out "
                                                "questions stay evaluation questions), counted and named.",
                                                exists=True, dir_okay=False, show_default=False)] = None,
    metrics: Annotated[Path | None, typer.Option(help="Where to write the mining statistics JSON.")] = (
        Path("metrics/mining.json")
    ),
    params: ParamsOption = PARAMS,
    quiet: QuietOption = False,
    json_out: JsonOption = False,
) -> None:
    """Turn trajectories into judged, weighted training rows (LRAT steps 1-3): browsed documents become positives
    of their search, unbrowsed results negatives; the judge reads each post-browse reasoning and marks
    false positives (`satisfied: false`); reasoning length becomes a weight with mean 1 per group.

    Exit 0 on success, 2 on usage errors (bad flags, unreadable corpus), 3 when the judge fails under
    on_error: fail.
    """
    from lrat.judge import JudgeError
    from lrat.mining.stage import mine_stage
    from lrat.settings import load_settings

    overrides = {"preset": preset, "pairing": pairing, "negatives": negatives, "judge": judge,
                 "judge_url": judge_url, "judge_model": judge_model,
                 "judge_cache": None if judge_cache is None else str(judge_cache), "tokenizer": tokenizer,
                 "format": format}

    def log(message: str) -> None:
        if not quiet:
            typer.echo(message, err=True)

    try:
        with usage_errors():
            summary = mine_stage(trajectories, corpus, out, load_settings(params), metrics, preset, overrides, splits,
                                 progress=not quiet, log=log)
    except JudgeError as exc:
        typer.echo(f"Error: the judge failed and mine.on_error is 'fail': {exc}", err=True)
        raise typer.Exit(3) from None
    if quiet and summary["held_out"]["leaking_questions"]:  # said even when quiet: the user's logs overlap the test
        held = summary["held_out"]
        typer.echo(f"Warning: {held['trajectories_left_out']} trajectories of {held['leaking_questions']} held-out "
                   f"question(s) left out of the labels ({', '.join(held['questions'][:20])}"
                   f"{', ...' if held['leaking_questions'] > 20 else ''})", err=True)
    if json_out:
        typer.echo(json.dumps(summary, indent=2))
        return
    judge_stats = summary["judge"]
    typer.echo(
        f"{summary['rows']} rows from {summary['trajectories']['used']} trajectories "
        f"({summary['trajectories']['rejected']} rejected lines) -> {out} ({_size(summary)}); "
        f"satisfied {summary['satisfied_ratio']}, "
        f"evidence retention {summary['evidence_retention']} vs non-evidence {summary['non_evidence_retention']}; "
        f"judge {judge_stats['backend']}: {judge_stats.get('verdicts', 0)} verdicts, {judge_stats.get('calls', 0)} "
        f"calls, {judge_stats.get('cache_hits', 0)} cache hits, {judge_stats.get('errors', 0)} errors",
        err=True,
    )


def _size(summary: dict) -> str:
    """The labels' format and size, and what text rows would take when the rows were written compact."""
    size = f"{summary['label_format']}, {summary['label_bytes'] / 1e6:.1f} MB"
    if summary["label_format"] == "compact" and summary.get("text_label_bytes"):
        size += f"; text rows {summary['text_label_bytes'] / 1e6:.1f} MB"
        if summary["format"] != "compact":
            size += f" > mine.compact_above_mb {summary['compact_above_mb']:g}"
    return size


def expand_labels_command(
    labels: Annotated[Path, typer.Option("--labels", help="Compact labels (`lrat mine` rows with docids only).",
                                         exists=True, dir_okay=False, show_default=False)],
    corpus: Annotated[Path, typer.Option("--corpus", help="The corpus they were mined from (its sha256 must be "
                                         "the rows' corpus_sha256).", exists=True, dir_okay=False,
                                         show_default=False)],
    out: Annotated[Path, typer.Option("--out", help="Text labels JSONL to write.", show_default=False)],
    format: Annotated[str, typer.Option("--format", help="lrat (the rows `lrat mine --format lrat` writes) | "
                                        "flagembedding (the released LRAT-Train keys).")] = "lrat",
) -> None:
    """Join compact labels with their corpus into text rows, for export or other tools: byte for byte the file
    `lrat mine` writes with that format. Exit 0, 2 when the corpus is not the one mined (sha256) or lacks a docid.
    """
    from lrat.mining.formats import expand_labels

    with usage_errors():
        summary = expand_labels(labels, corpus, out, format)
    typer.echo(f"{summary['rows']} rows -> {out} ({format}, {summary['label_bytes'] / 1e6:.1f} MB)", err=True)
