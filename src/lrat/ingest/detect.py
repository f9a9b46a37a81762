"""Which format a record is in (``trajectory-formats.md`` §12 autodetection), and the parser for each format."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from lrat.capture_events import MARKER
from lrat.ingest.bcp import looks_like_bcp, parse_bcp
from lrat.ingest.chat import looks_like_chat, parse_chat
from lrat.ingest.context import RecordContext
from lrat.ingest.native import looks_like_native, parse_native
from lrat.ingest.schema import RecordError
from lrat.ingest.search_r1 import looks_like_search_r1, parse_search_r1
from lrat.ingest.service import parse_service

Parser = Callable[[Any, RecordContext], dict[str, Any]]

PARSERS: dict[str, Parser] = {
    "bcp": parse_bcp,
    "search-r1": parse_search_r1,
    "openai-chat": parse_chat,
    "native": parse_native,
    "service": parse_service,  # reads a whole caller trajectory gathered from capture shards (runner.py), not a line
}

# Order matters: a normalized record has no `result`, a BC+ run has no `messages`, chat before free text.
_DETECTORS: tuple[tuple[str, Callable[[Any], bool]], ...] = (
    ("native", looks_like_native),
    ("bcp", looks_like_bcp),
    ("openai-chat", looks_like_chat),
    ("search-r1", looks_like_search_r1),
)


def detect(record: Any) -> str:
    if isinstance(record, dict) and MARKER in record:
        raise RecordError(
            "a service capture event in a file not read as a capture shard (a .jsonl file whose first line is a "
            "capture event); give --format service to read the file as one"
        )
    for name, looks_like in _DETECTORS:
        if looks_like(record):
            return name
    if isinstance(record, dict):
        keys = ", ".join(sorted(map(str, record))[:12]) or "none"
        found = f"an object with keys: {keys}"
    elif isinstance(record, str):
        found = "text without <search>/<think>/<answer> tags"
    else:
        found = f"a JSON {type(record).__name__}"
    raise RecordError(
        "unrecognised record: expected a BC+ run (result[]), chat messages (messages[]), a Search-R1 transcript "
        f"or a normalized trajectory (schema_version); found {found}"
    )
