"""What a format parser knows about the record it reads, besides the record itself."""

from __future__ import annotations

from dataclasses import dataclass, field

from lrat.ingest.corpus import CorpusIndex
from lrat.ingest.tools import ToolNames


@dataclass
class RecordContext:
    path: str  # relative to the INPUT it came from (a file INPUT: its basename); goes to source.path
    line: int | None = None  # 1-based line of a JSONL record
    item: int | None = None  # 1-based position of a record inside a JSON array file
    tools: ToolNames = field(default_factory=ToolNames)
    corpus: CorpusIndex | None = None
