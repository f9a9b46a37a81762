"""Ranked result lists out of whatever a search tool printed (``trajectory-formats.md`` §2.5 and §9.3).

The chain, first match wins: JSON array (or object) → concatenated JSON objects → ``DocID:`` markers → ``"docid"``
regex → rendered titles/URLs resolved through the corpus → Tongyi's "No results found" (empty) → unparsable.
"""

from __future__ import annotations

import json
import re
from typing import Any

from lrat.ingest.corpus import CorpusIndex
from lrat.ingest.derive import UNPARSABLE
from lrat.ingest.schema import result
from lrat.ingest.tools import normalize_docid

Results = list[dict[str, Any]] | None

_DOCID_MARKER = re.compile(r"\bdoc_?id\s*:\s*([^\s|,;\]\)\[\(]+)", re.IGNORECASE)
_DOCID_JSON = re.compile(r"[\"']docid[\"']\s*:\s*(?:\"([^\"]*)\"|'([^']*)'|(-?\d+))")
_NO_RESULTS = re.compile(r"^\s*no results? (?:were )?found", re.IGNORECASE)
_TOOL_ERROR = re.compile(r"^(?:error\b|search error\b|\[[^\]]{0,40}\]\s*(?:invalid|error))", re.IGNORECASE)
_RETURNED_EARLIER = "\n## Returned earlier"
_ZERO_RESULTS = re.compile(r"\bfound 0 results\b", re.IGNORECASE)
_SEARCH_R1_DOC = re.compile(r"Doc \d+\s*\(Title:\s*")
_MARKDOWN_LINK = re.compile(r"^\s*(?:\d+\.\s*)?\[([^\]\n]*)\]\((\S+?)\)", re.MULTILINE)
_NUMBERED_TITLE = re.compile(r"^\d+\.\s*\[([^\]\n]*)\]\s*$", re.MULTILINE)
_DOC_LABEL = re.compile(r"doc\s*\d+$", re.IGNORECASE)  # ASearcher's "[Doc 3](url):" items


def _score(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, (int, float, str)):
        return None
    try:
        return float(value)
    except ValueError:
        return None


def _dedup(entries: list[tuple[str | None, float | None, str | None, str | None]]) -> list[dict[str, Any]]:
    """Display order, each docid once; unresolved (None) entries are kept, they are neutral but counted."""
    seen: set[str] = set()
    out: list[dict[str, Any]] = []
    for docid, score, title, url in entries:
        if docid is not None:
            if docid in seen:
                continue
            seen.add(docid)
        out.append(result(docid, len(out) + 1, score, title, url))
    return out


def _from_json_items(items: list[Any]) -> list[dict[str, Any]]:
    entries = []
    for item in items:
        if isinstance(item, dict):
            raw = next((item[k] for k in ("docid", "doc_id", "id", "_id") if k in item), None)
            entries.append((normalize_docid(raw), _score(item.get("score")), None, None))
        elif isinstance(item, (str, int)) and not isinstance(item, bool):
            entries.append((normalize_docid(item), None, None, None))
        else:
            entries.append((None, None, None, None))
    return _dedup(entries)


def _from_json_value(value: Any) -> tuple[Results, str | None] | None:
    """None when the JSON is not a result list at all (then the text chain goes on)."""
    if isinstance(value, list):
        return _from_json_items(value), None
    if isinstance(value, dict):
        if "error" in value and not any(k in value for k in ("docid", "results", "hits")):
            return None, f"search tool error: {str(value['error'])[:300]}"
        for key in ("results", "hits", "result", "documents", "docs"):
            if isinstance(value.get(key), list):
                return _from_json_items(value[key]), None
        if any(k in value for k in ("docid", "doc_id")):
            return _from_json_items([value]), None
    return None


def _concatenated_objects(text: str) -> list[Any] | None:
    decoder = json.JSONDecoder()
    pos, items = 0, []
    while pos < len(text):
        while pos < len(text) and text[pos] in " \t\r\n,":
            pos += 1
        if pos >= len(text):
            break
        try:
            value, pos = decoder.raw_decode(text, pos)
        except (ValueError, RecursionError):
            return None
        items.extend(value if isinstance(value, list) else [value])
    return items or None


def _split_title(rest: str, corpus: CorpusIndex | None) -> tuple[str, str]:
    """Title and body of ``<title>) <body>``; titles may hold ``)``, so the longest corpus title wins (§11.17)."""
    if corpus is not None:
        line = rest.split("\n", 1)[0]  # a title never spans lines
        for pos in sorted((m.start() for m in re.finditer(r"\)", line)), reverse=True):
            if corpus.has_title(rest[:pos]):
                return rest[:pos], rest[pos + 1 :]
    depth = 0
    for pos, char in enumerate(rest):
        if char == "(":
            depth += 1
        elif char == ")":
            if depth == 0:
                return rest[:pos], rest[pos + 1 :]
            depth -= 1
        elif char == "\n":
            break
    head, _, body = rest.partition(")")
    return head, body


def _rendered_titles(text: str, corpus: CorpusIndex | None) -> list[dict[str, Any]] | None:
    """Search-R1 rendering: ``Doc <i>(Title: <t>) <text>``; bodies contain newlines, so split on the marker."""
    starts = [m for m in _SEARCH_R1_DOC.finditer(text)]
    if not starts:
        return None
    entries = []
    for i, match in enumerate(starts):
        end = starts[i + 1].start() if i + 1 < len(starts) else len(text)
        title, body = _split_title(text[match.end() : end], corpus)
        title = title.strip()
        docid = corpus.resolve_title(title, body) if corpus is not None else None
        entries.append((docid, None, title, None))
    return _dedup(entries)


def _rendered_links(text: str, corpus: CorpusIndex | None) -> list[dict[str, Any]] | None:
    """Web-style rendering (Tongyi ``i. [title](url)``, ASearcher ``[Doc i](url):``): URLs resolved via the corpus."""
    links = _MARKDOWN_LINK.findall(text)
    doc_links = [link for link in links if _DOC_LABEL.match(link[0])]
    links = doc_links or links  # ASearcher pages may hold other links besides the "[Doc i](url)" items
    if links:
        entries = []
        for title, url in links:
            docid = corpus.resolve_url(url) if corpus is not None else None
            shown_title = None if _DOC_LABEL.match(title) else title
            entries.append((docid, None, shown_title, url))
        return _dedup(entries)
    titles = _NUMBERED_TITLE.findall(text)
    if titles:  # upstream Tongyi: "1. [title]\nsnippet", no docid or URL at all (pitfall §11.2)
        return _dedup([(corpus.resolve_title(t) if corpus else None, None, t, None) for t in titles])
    return None


def parse_search_output(output: Any, corpus: CorpusIndex | None = None) -> tuple[Results, str | None]:
    """``(results, error)``: results None with an error for a failed call or an unreadable output."""
    if output is None:
        return None, "the search tool returned no output (the call failed)"
    if isinstance(output, (list, dict)):
        parsed = _from_json_value(output)
        return parsed if parsed is not None else (None, UNPARSABLE)
    text = str(output).strip()
    if not text:
        return [], None
    if text[0] in "[{":
        try:
            value = json.loads(text)
        except (ValueError, RecursionError):
            items = _concatenated_objects(text)
            if items is not None and all(isinstance(i, dict) for i in items):
                return _from_json_items(items), None
        else:
            parsed = _from_json_value(value)
            if parsed is not None:
                return parsed
    if _TOOL_ERROR.match(text):
        return None, f"search tool error: {text[:300]}"
    # a fork variant appends docs hidden as "returned earlier": they are not this search's results
    text = text.split(_RETURNED_EARLIER, 1)[0]
    markers = _DOCID_MARKER.findall(text)
    if markers:
        return _dedup([(normalize_docid(m.rstrip(".")), None, None, None) for m in markers]), None
    json_ids = _DOCID_JSON.findall(text)
    if json_ids:
        return _dedup([(normalize_docid(a or b or c), None, None, None) for a, b, c in json_ids]), None
    for render in (_rendered_titles, _rendered_links):
        rendered = render(text, corpus)
        if rendered is not None:
            return rendered, None
    if _NO_RESULTS.match(text) or _ZERO_RESULTS.search(text[:500]):
        return [], None
    return None, UNPARSABLE
