"""The derived browse fields and warnings of ``trajectory-formats.md`` §9 (rules 5, 8, 10, 11).

Every importer, ``native`` included, ends here, so the labelling rules live in exactly one place.
"""

from __future__ import annotations

from typing import Any

# Warning codes this module owns; anything else in ``warnings`` came from a parser and is kept as is.
DERIVED_WARNINGS = (
    "browse_not_in_prior_results:",
    "browse_failed:",
    "browse_unresolved_docid",
    "repeat_browse:",
    "search_tool_error:",
    "empty_search:",
    "unresolved_result:",
)


def derive(record: dict[str, Any]) -> dict[str, Any]:
    """Fill ``attributed_search``, ``latest_search_before``, ``repeat``, ``reasoning_after`` and the warnings."""
    steps = record["steps"]
    browse_warnings: list[str] = []
    search_warnings: list[str] = []
    # docid -> ordinal of the latest search so far that showed it
    shown_in: dict[str, int] = {}
    browsed: set[str] = set()
    latest: int | None = None
    for pos, step in enumerate(steps):
        kind = step["kind"]
        if kind == "search":
            latest = step["ordinal"]
            results = step["results"]
            if results is None:
                code = "search_tool_error" if step.get("error") != UNPARSABLE else "unresolved_result"
                search_warnings.append(f"{code}:#{latest}")
                continue
            if not results:
                search_warnings.append(f"empty_search:#{latest}")
            if any(r["docid"] is None for r in results):
                search_warnings.append(f"unresolved_result:#{latest}")
            for r in results:
                if r["docid"] is not None:
                    shown_in[r["docid"]] = latest
        elif kind == "browse":
            docid = step["docid"]
            step["latest_search_before"] = latest
            nxt = steps[pos + 1] if pos + 1 < len(steps) else None
            step["reasoning_after"] = nxt["text"] if nxt is not None and nxt["kind"] == "reasoning" else None
            step["repeat"] = docid is not None and docid in browsed
            step["attributed_search"] = None
            if docid is None:
                browse_warnings.append("browse_unresolved_docid")
            elif not step["found"]:
                browse_warnings.append(f"browse_failed:{docid}")
            else:
                step["attributed_search"] = shown_in.get(docid)
                if step["attributed_search"] is None:
                    browse_warnings.append(f"browse_not_in_prior_results:{docid}")
            if step["repeat"]:
                browse_warnings.append(f"repeat_browse:{docid}")
            if docid is not None:
                browsed.add(docid)
    kept = [w for w in record.get("warnings") or [] if not w.startswith(DERIVED_WARNINGS)]
    record["warnings"] = browse_warnings + search_warnings + kept
    return record


# The ``error`` a parser gives a search whose output it could not read at all (results null, but no tool error).
UNPARSABLE = "unparsable search output"
