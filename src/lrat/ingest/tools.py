"""Tool calls as every format has them: names, arguments, and which doc a browse opened.

Tool and argument names are configurable (``params.yaml`` ``ingest:``); the defaults are the names the known
agents use (``trajectory-formats.md`` §2.2, §4, §5, §6).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any

from lrat.settings import Ingest

_DEFAULTS = Ingest()  # the names the known agents use, declared with the other settings


@dataclass(frozen=True)
class ToolNames:
    search: frozenset[str] = field(default_factory=lambda: frozenset(_DEFAULTS.search_tools))
    browse: frozenset[str] = field(default_factory=lambda: frozenset(_DEFAULTS.browse_tools))
    query_keys: tuple[str, ...] = _DEFAULTS.query_keys
    docid_keys: tuple[str, ...] = _DEFAULTS.docid_keys
    url_keys: tuple[str, ...] = _DEFAULTS.url_keys

    @classmethod
    def from_settings(cls, ingest: Ingest) -> ToolNames:
        """params.yaml `ingest:`: the tool names and argument keys to recognise."""
        return cls(search=frozenset(n.lower() for n in ingest.search_tools),
                   browse=frozenset(n.lower() for n in ingest.browse_tools),
                   query_keys=tuple(ingest.query_keys), docid_keys=tuple(ingest.docid_keys),
                   url_keys=tuple(ingest.url_keys))

    def kind(self, name: str) -> str:
        """``search``, ``browse`` or ``other``; MCP prefixes (``server-search``, ``mcp__srv__search``) are ignored."""
        lowered = name.strip().lower()
        short = re.split(r"__|[-./:]", lowered)[-1]
        for candidate in (lowered, short):
            if candidate in self.search:
                return "search"
            if candidate in self.browse:
                return "browse"
        return "other"


def parse_arguments(arguments: Any) -> dict[str, Any] | None:
    """Tool arguments as a dict: a JSON string (possibly malformed, then None) or already a dict."""
    if isinstance(arguments, dict):
        return arguments
    if isinstance(arguments, str):
        try:
            value = json.loads(arguments)
        except (ValueError, RecursionError):
            return None
        if isinstance(value, str):  # double-encoded
            return parse_arguments(value)
        return value if isinstance(value, dict) else None
    return None


def search_query(args: dict[str, Any] | None, tools: ToolNames) -> tuple[str | None, list[str]]:
    """``(query, queries_requested)``: a list-valued query runs its first element only (BC+/LRAT tools)."""
    if args is None:
        return None, []
    for key in tools.query_keys:
        if key in args:
            value = args[key]
            requested = [str(v) for v in value if v is not None] if isinstance(value, list) else (
                [] if value is None else [str(value)]
            )
            return (requested[0] if requested else None), requested
    return None, []


_URL = re.compile(r"^[a-z][a-z0-9+.-]*://", re.IGNORECASE)


def is_url(value: str) -> bool:
    return bool(_URL.match(value.strip())) or value.strip().lower().startswith("www.")


def normalize_docid(value: Any) -> str | None:
    """``"DocID:1022"``, ``["1022"]``, ``1022`` and ``" 1022 "`` are all ``"1022"`` (pitfall §11.9)."""
    if isinstance(value, list):
        value = value[0] if value else None
    if value is None or isinstance(value, (dict, bool)):
        return None
    text = str(value).strip()
    text = text.rsplit(":", 1)[-1].strip()
    return text or None


def browse_targets(args: dict[str, Any] | None, tools: ToolNames) -> list[tuple[str | None, str | None]]:
    """``[(docid, url)]`` for one browse call: a docid (first of a list), or every URL of a multi-URL visit."""
    if args is None:
        return [(None, None)]
    for key in tools.docid_keys:
        if key in args and args[key] is not None:
            value = args[key]
            first = value[0] if isinstance(value, list) and value else value
            if isinstance(first, str) and is_url(first):
                return [(None, first.strip())]
            return [(normalize_docid(value), None)]
    for key in tools.url_keys:
        if key in args and args[key] is not None:
            value = args[key]
            urls = value if isinstance(value, list) else [value]
            return [(None, str(u).strip()) for u in urls] or [(None, None)]
    return [(None, None)]


# The LRAT fork's browse output: "Document <id>:\n<repr cut at 512 tokens>" (pitfall §11.19); never parse the body.
_LRAT_FOUND = re.compile(r"^Document \S+:\s")
_BRACKETED_ERRORS = ("not found", "error", "invalid request")
# Short error texts that mean "nothing was opened" (BC+, LRAT fork, ASearcher, Tongyi visit).
_NOT_FOUND_MARKERS = (
    "[document not found]",
    "no more information is found",
    "could not be accessed",
    "document not found",
)


def browse_failure(output: Any) -> str | None:
    """Why a browse failed, or None when it returned a document (§9.4 ``found``)."""
    if output is None:
        return "the tool returned no output (the call failed)"
    if isinstance(output, dict):
        return str(output["error"]) if "error" in output else None
    if isinstance(output, list):
        return "the tool returned an empty result" if not output else None
    text = str(output).strip()
    if not text or text in ("[]", "null", "None", "{}"):
        return "the tool returned an empty result"
    if text.startswith("{"):
        try:
            value = json.loads(text)
        except (ValueError, RecursionError):
            value = None
        if isinstance(value, dict) and "error" in value:
            return str(value["error"])
    lowered = text[:300].lower()
    if lowered.startswith("error") or (lowered.startswith("[") and any(w in lowered for w in _BRACKETED_ERRORS)):
        # the LRAT fork's errors: "[Document not found] docid=…", "[Error retrieving …]", "[get_document] Invalid…"
        return text[:300]
    if _LRAT_FOUND.match(text):
        return None
    if len(text) < 500 and any(marker in lowered for marker in _NOT_FOUND_MARKERS):
        return text[:300]
    return None


def text_of(content: Any) -> str | None:
    """Message or tool content as text: a string, or the text parts of a list of content blocks."""
    if content is None or isinstance(content, str):
        return content
    if isinstance(content, list):
        parts = []
        for part in content:
            if isinstance(part, str):
                parts.append(part)
            elif isinstance(part, dict) and isinstance(part.get("text"), str):
                parts.append(part["text"])
        return "\n".join(parts)
    if isinstance(content, dict) and isinstance(content.get("text"), str):
        return content["text"]
    return json.dumps(content, ensure_ascii=False)
