"""The validation result as a short Markdown table and as one-line failure messages.

GX Data Docs pull their CSS/JS from CDNs and render blank offline, so the human-readable record is plain Markdown
built from the result JSON (which stays the source of truth).
"""

from __future__ import annotations

from typing import Any

_MARK = {"passed": "✅", "failed": "❌", "skipped": "⏭️"}


def fmt(value: Any) -> str:
    """Compact, stable text for an observed/expected value (floats to 4 decimals)."""
    if isinstance(value, float):
        return str(round(value, 4))
    if isinstance(value, dict):
        return "{" + ", ".join(f"{k!r}: {fmt(v)}" for k, v in value.items()) + "}"
    if isinstance(value, list | tuple):
        return "[" + ", ".join(fmt(v) for v in value) + "]"
    if value is None:
        return "n/a"
    return str(value)


def _observed(entry: dict[str, Any]) -> str:
    details = entry["details"] or {}
    if entry["status"] == "skipped":
        return f"skipped: {details.get('reason', '')}"
    text = fmt(entry["observed"])
    if "unexpected_count" in details and not isinstance(entry["observed"], dict):
        text = f"{details['unexpected_count']} unexpected row(s)"
        lines = [str(e["line"]) for e in details.get("examples", [])]
        if lines:
            text += f" (line {', '.join(lines)})"
    if details.get("error"):
        text += f" (error: {details['error']})"
    return text


def failure_lines(result: dict[str, Any]) -> list[str]:
    """``FAILED name: observed X expected Y`` for every failed check, as the CLI prints them."""
    return [f"FAILED {e['name']}: observed {_observed(e)} expected {fmt(e['expected'])}"
            for e in result["expectations"] if e["status"] == "failed"]


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def render_markdown(result: dict[str, Any]) -> str:
    """One table row per check (✅/❌/⏭️, name, observed, expected) under a one-line verdict."""
    entries = result["expectations"]
    failed = sum(e["status"] == "failed" for e in entries)
    skipped = sum(e["status"] == "skipped" for e in entries)
    verdict = "PASSED" if result["success"] else f"FAILED ({failed} of {len(entries) - skipped} checks)"
    lines = [
        "# Label validation",
        "",
        f"Suite `{result['suite']}` v{result['suite_version']} on `{result['labels']}`: {result['rows']} rows "
        f"({result['kept_rows']} kept). **{verdict}**" + (f", {skipped} skipped." if skipped else "."),
        "",
        "| | check | observed | expected |",
        "|---|---|---|---|",
    ]
    for e in entries:
        expected = "" if e["status"] == "skipped" else fmt(e["expected"])
        lines.append(f"| {_MARK[e['status']]} | `{e['name']}` | {_cell(_observed(e))} | {_cell(expected)} |")
    lines += ["", f"Evidence qrels: `{result['qrels_evidence']}`." if result["qrels_evidence"] else
              "Evidence qrels: none given, so the retention checks are skipped.", ""]
    return "\n".join(lines)
