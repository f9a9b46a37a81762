"""`lrat pr-comment`: a gate decision (the JSON record of `lrat promote --dry-run`) as one pull-request comment.

The comment starts with a hidden marker (``MARKER``) so a workflow finds the comment it wrote before and updates it
instead of adding one per push (.github/workflows/pr.yml). It shows the verdict, the failed checks, the primary
offline metric before and after, `dvc metrics diff --md` against the base branch, and the promotion report
collapsed; GitHub rejects a comment over 65,536 characters, so the metrics diff and then the report are cut to fit.
Pure text in, text out: no MLflow, no registry.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Annotated, Any

import typer

from lrat.cli_errors import usage_error
from lrat.registry.record import fmt

MARKER = "<!-- lrat-promotion-gate -->"
MAX_CHARS = 65_536  # GitHub's limit on a comment body
LIMIT = MAX_CHARS - 536  # what this module writes at most: room for what a workflow may add
DIFF_BUDGET = 20_000  # the metrics diff's share; the report gets what is left
DIFF_OPEN_ROWS = 25  # a longer metrics diff is collapsed too

_VERDICTS = {  # decision -> (icon, dry-run headline, headline of a real decision)
    "promoted": ("✅", "would promote", "promoted"),
    "refused": ("❌", "would refuse", "refused"),
    "unchanged": ("➖", "already champion", "already champion"),
    "rolled_back": ("↩️", "would roll back", "rolled back"),
}


# reading ---------------------------------------------------------------------------------------------------------


def parse_record(text: str, source: str = "the record") -> dict[str, Any]:
    """The decision record as a dict, or ValueError saying what is wrong with it."""
    try:
        record = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ValueError(f"{source} is not JSON ({exc}); expected the --metrics file of `lrat promote --dry-run`"
                         ) from None
    if not isinstance(record, dict):
        raise ValueError(f"{source} is not a decision record: a JSON {type(record).__name__}, not an object")
    missing = [key for key in ("decision", "candidate", "champion") if key not in record]
    if missing:
        raise ValueError(f"{source} is not a decision record of `lrat promote`: no {', '.join(missing)}")
    if not isinstance(record["decision"], str):
        raise ValueError(f"{source}: decision must be a string, not {record['decision']!r}")
    for key in ("candidate", "champion"):
        if not isinstance(record[key], dict):
            raise ValueError(f"{source}: {key} must be an object")
    checks = record.get("checks") or []
    if not isinstance(checks, list) or not all(isinstance(c, dict) and "name" in c and "passed" in c
                                               for c in checks):
        raise ValueError(f"{source}: checks must be a list of {{name, observed, op, threshold, passed, detail}}")
    return record


# rendering -------------------------------------------------------------------------------------------------------



def _cell(value: Any) -> str:
    """Text that stays inside one Markdown table cell."""
    return " ".join(fmt(value).split()).replace("|", "\\|")


def _candidate(cand: dict[str, Any]) -> str:
    spec = cand.get("spec") or cand.get("uri")
    if cand.get("version"):
        return f"version {cand['version']}" + (f" (`{spec}`)" if spec else "")
    return f"`{spec}` (not registered in this store)" if spec else "the candidate"


def _reference(champ: dict[str, Any]) -> str:
    if champ.get("version"):
        return f"`@champion` version {champ['version']}"
    return f"the base model `{champ.get('spec') or champ.get('uri')}` (no `@champion` yet)"


def _headline(record: dict[str, Any], dry_run: bool) -> list[str]:
    decision = record["decision"]
    icon, would, did = _VERDICTS.get(decision, ("❔", decision.replace("_", " "), decision.replace("_", " ")))
    cand, champ = record["candidate"], record["champion"]
    name = (record.get("registry") or {}).get("name") or "the registry"
    short = f"`@champion` v{champ['version']}" if champ.get("version") else \
        f"base model `{champ.get('spec') or champ.get('uri')}`"
    title = f"## {icon} Promotion gate{' (dry run)' if dry_run else ''}: {would if dry_run else did} — vs {short}"
    if decision == "promoted":
        verb = "would replace" if dry_run else "replaced"
        text = (f"Candidate {_candidate(cand)} {verb} {_reference(champ)} as `{name}@champion`: every applicable "
                "check passed.")
    elif decision == "refused":
        failed = sum(c.get("passed") is False for c in record.get("checks") or [])
        stays = "`@champion` would stay where it is" if champ.get("version") else "there would still be no `@champion`"
        tail = stays if dry_run else "the registry is unchanged"
        text = (f"Candidate {_candidate(cand)} against {_reference(champ)}: {failed} check(s) failed; {tail}.")
    elif decision == "unchanged":
        text = record.get("reason") or f"Candidate {_candidate(cand)} already is `{name}@champion`."
    else:
        text = record.get("reason") or f"Candidate {_candidate(cand)}, compared with {_reference(champ)}."
    lines = [title, "", text]
    store = (record.get("registry") or {}).get("tracking_uri")
    facts = ([f"tracking store `{store}`"] if store else []) + ([str(record["time"])] if record.get("time") else [])
    if facts:
        lines += ["", "<sub>" + " · ".join(facts) + "</sub>"]
    if cand.get("description") and cand.get("version"):  # (an unregistered model's says just that)
        lines += ["", "> " + " ".join(str(cand["description"]).split())]
    return lines


def _checks(record: dict[str, Any]) -> list[str]:
    checks = record.get("checks") or []
    if not checks:
        return [] if record["decision"] in ("unchanged", "rolled_back") else ["", "No checks were recorded."]
    failed = [c for c in checks if c.get("passed") is False]
    passed = [c for c in checks if c.get("passed") is True]
    na = [c for c in checks if c.get("passed") is None]
    lines = ["", "### Checks", "", f"{len(passed)} passed · {len(failed)} failed · {len(na)} not applicable", ""]
    if failed:
        lines += ["| failed check | observed | required | detail |", "|---|---|---|---|"]
        lines += [f"| {_cell(c['name'])} | {_cell(c.get('observed'))} | {_cell(c.get('op'))} "
                  f"{_cell(c.get('threshold'))} | {_cell(c.get('detail') or '')} |" for c in failed]
    elif passed:
        lines.append("All applicable checks passed.")
    else:
        lines.append("No check applied, so nothing can be promoted.")
    if na:
        lines += ["", "Not applicable: " + "; ".join(f"{c['name']} ({' '.join(str(c.get('detail') or '').split())})"
                                                       for c in na) + "."]
    return lines


def _primary(record: dict[str, Any]) -> list[str]:
    evaluation = record.get("evaluation") or {}
    primary = (record.get("gate") or {}).get("primary") or "recall@10"
    for check in record.get("checks") or []:  # promote.fallback_primary was read instead (no logged queries)
        if check.get("name") == "primary_metric" and isinstance(check.get("observed"), str):
            primary = check["observed"]
    offline = evaluation.get("offline") or {}
    if primary not in (offline.get("current") or {}):  # an agent-query metric (lrat.evaluation.agent_queries)
        offline = evaluation.get("agent_queries") or {}
    current, candidate = offline.get("current") or {}, offline.get("candidate") or {}
    if primary not in current or primary not in candidate:
        return []
    before, after = current[primary], candidate[primary]
    if not all(isinstance(v, int | float) and not isinstance(v, bool) for v in (before, after)):
        return []
    rel = f" ({(after - before) / before:+.1%})" if before else ""
    p = (offline.get("p_values") or {}).get(primary)
    champ = record["champion"]
    ref = f"`@champion` v{champ['version']}" if champ.get("version") else f"base `{champ.get('spec')}`"
    n = (record.get("evaluation") or {}).get("n_queries")
    split = (record.get("evaluation") or {}).get("split")
    where = f" on {n} held-out `{split}` questions" if n else ""
    return ["", f"### Primary metric{where}", "",
            f"| metric | {ref} | candidate | Δ | p (paired) |", "|---|---|---|---|---|",
            f"| {primary} | {before:.4f} | {after:.4f} | {after - before:+.4f}{rel} | {fmt(p)} |"]


_SEPARATOR = re.compile(r"^\|[\s:|-]+\|$")


def _diff_rows(text: str) -> tuple[list[str], list[str]]:
    """(header and separator, data rows) of a Markdown table; padding squeezed out (dvc pads every cell)."""
    lines = [re.sub(r"\s+\|", " |", line.strip()) for line in text.splitlines() if line.strip()]
    lines = [re.sub(r"-{3,}", "---", line) if _SEPARATOR.match(line) else line for line in lines]
    head = lines[:2] if len(lines) >= 2 and _SEPARATOR.match(lines[1]) else []
    return head, lines[len(head):]


def _metrics_diff(diff: str | None) -> list[str]:
    lines = ["", "### Metrics against the base branch", ""]
    if diff is None:
        return lines + ["No metrics diff was given."]
    head, rows = _diff_rows(diff)
    if not rows:
        return lines + ["No metric changed (`dvc metrics diff`)."]
    if not head:  # not a table: a message (why there is no diff), shown as it is
        return lines + rows
    kept, size = [], sum(len(h) + 1 for h in head)
    for row in rows:
        if size + len(row) + 1 > DIFF_BUDGET:
            break
        kept.append(row)
        size += len(row) + 1
    table = head + kept
    if len(kept) < len(rows):
        table += ["", f"*…{len(rows) - len(kept)} more row(s) left out; the whole diff is in the workflow run's "
                  "artifact.*"]
    if len(rows) > DIFF_OPEN_ROWS:
        return lines + [f"<details><summary>{len(rows)} metric value(s) changed "
                        "(<code>dvc metrics diff</code>)</summary>", "", *table, "", "</details>"]
    return lines + table


def _footer(run_url: str | None, dry_run: bool) -> list[str]:
    run = f"[workflow run]({run_url})" if run_url else "the workflow run"
    first = "Dry run: the registry was not touched. " if dry_run else ""
    return ["", "---", f"<sub>{first}Merging into the default branch runs `promote.yml`: the same pipeline and "
            "the same gate, for real, and `@champion` moves only if it passes there. Reports and records: "
            f"{run}. This comment is updated on every push.</sub>"]


def _nested(report: str) -> str:
    """The report's headings two levels down, so its title does not outshout the comment's own."""
    out, fenced = [], False
    for line in report.splitlines():
        if line.lstrip().startswith(("```", "~~~")):
            fenced = not fenced
        out.append("##" + line if not fenced and re.match(r"#{1,4} ", line) else line)
    return "\n".join(out)


def _cut(text: str, budget: int) -> str:
    """At most ``budget`` characters of ``text``, ending at a line break when there is one."""
    if len(text) <= budget:
        return text
    head = text[:max(budget, 0)]
    return head[:head.rfind("\n")] if "\n" in head else head


def render_comment(record: dict[str, Any], report: str | None = None, metrics_diff: str | None = None, *,
                   run_url: str | None = None) -> str:
    """The pull-request comment for a decision record (``judge()``'s shape; ``dry_run: true`` from a dry run).

    ``metrics_diff``: `dvc metrics diff --md` output (None: none given; empty or a table without rows: nothing
    changed; any other text is shown as it is). The result starts with ``MARKER`` and is at most ``LIMIT``
    characters: the report is cut to fit, with a note."""
    dry_run = bool(record.get("dry_run"))
    body = [MARKER, *_headline(record, dry_run), *_checks(record), *_primary(record), *_metrics_diff(metrics_diff)]
    footer = _footer(run_url, dry_run)
    if report is not None and report.strip():
        opening = ["", "<details><summary>Promotion report</summary>", ""]
        closing = ["", "</details>"]
        fixed = len("\n".join(body + opening + closing + footer)) + 2
        note = ("\n\n*(The report is cut here: {shown:,} of {total:,} characters fit in a comment; the whole "
                "report is in the workflow run's artifact.)*")
        text = _nested(report.strip("\n"))
        if fixed + len(text) > LIMIT:
            room = LIMIT - fixed - len(note.format(shown=len(text), total=len(text))) - 16
            cut = _cut(text, room)
            text = cut + note.format(shown=len(cut), total=len(text))
        body += [*opening, text, *closing]
    out = "\n".join(body + footer) + "\n"
    return out if len(out) <= LIMIT else _cut(out, LIMIT - 1) + "\n"


# the command -----------------------------------------------------------------------------------------------------


def _read(path: Path, what: str) -> str:
    try:
        return path.read_text(encoding="utf-8", errors="replace")
    except FileNotFoundError:
        raise usage_error(f"{what} {path} does not exist") from None
    except IsADirectoryError:
        raise usage_error(f"{what} {path} is a folder, not a file") from None


def pr_comment_command(
    record: Annotated[Path, typer.Option("--record", help="The decision record (JSON) of `lrat promote --dry-run "
                                         "--metrics FILE`.", show_default=False)],
    report: Annotated[Path | None, typer.Option("--report", help="The Markdown report of the same decision "
                                                "(`--report FILE`), included collapsed.", show_default=False)] = None,
    metrics_diff: Annotated[Path | None, typer.Option("--metrics-diff", help="The output of `dvc metrics diff "
                                                      "--md BASE` (an empty file, or a table without rows: no "
                                                      "metric changed).", show_default=False)] = None,
    run_url: Annotated[str | None, typer.Option("--run-url", help="A link to the workflow run, for the footer.",
                                                show_default=False)] = None,
    out: Annotated[Path | None, typer.Option("--out", help="Where to write the comment. [default: stdout]",
                                             show_default=False)] = None,
) -> None:
    """Render a promotion-gate decision as one pull-request comment (Markdown).

    The comment starts with the hidden marker `<!-- lrat-promotion-gate -->`, so a workflow can find and update
    the one it wrote before. It shows the verdict (would promote / would refuse / already champion) and what the
    candidate was compared with (@champion's version, or the base model when there is none), the failed checks
    with their observed values and thresholds, the primary offline metric before and after, the metrics diff
    against the base branch and the report (collapsed). It is cut to fit GitHub's 65,536 characters.

    Exit 0: written. Exit 2: a missing or malformed input.
    """
    from lrat.io import atomic_open

    try:
        decision = parse_record(_read(record, "--record"), f"--record {record}")
    except ValueError as exc:
        raise usage_error(str(exc)) from None
    text = render_comment(decision, None if report is None else _read(report, "--report"),
                          None if metrics_diff is None else _read(metrics_diff, "--metrics-diff"), run_url=run_url)
    if out is None:
        typer.echo(text, nl=False)
        return
    with atomic_open(out) as fh:
        fh.write(text)
