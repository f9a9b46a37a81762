"""What ingestion needs from a corpus: which docids exist, and how to resolve URLs and rendered titles to docids.

Only small keys are kept per document (never the text), so a 100k-document corpus of web pages fits in memory.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

_SPACE = re.compile(r"\s+")
TRUNCATED_TITLE = 50  # the Tongyi search tool cuts titles to 50 characters + "…"


def norm_text(text: str) -> str:
    return _SPACE.sub(" ", text).strip().casefold()


def norm_title(title: str) -> str:
    return norm_text(title).strip("\"'").strip()


def norm_url(url: str) -> str:
    """Scheme, ``www.``, case of the host, fragment, percent-encoding and a trailing ``/`` do not matter."""
    parts = urlsplit(url.strip())
    host = parts.netloc.lower()
    if host.startswith("www."):
        host = host[4:]
    path = unquote(parts.path).rstrip("/")
    query = f"?{unquote(parts.query)}" if parts.query else ""
    return f"{host}{path}{query}"


def title_and_body(text: str) -> tuple[str, str]:
    """The title the BC+/Search-R1 tools display, and the rest of the text."""
    if text.startswith("---\n"):  # YAML front matter: the title line may be anywhere in it
        lines = text.split("\n")
        end = next((i for i in range(1, len(lines)) if lines[i].strip() == "---"), len(lines))
        for i in range(1, end):
            if lines[i].startswith("title:"):
                title = lines[i][len("title:") :].strip().strip("\"'")
                return title, "\n".join(lines[1:i] + lines[i + 1 :])
    first, _, rest = text.partition("\n")
    return first.strip().strip("\"'"), rest


@dataclass
class CorpusIndex:
    docids: set[str] = field(default_factory=set)
    by_url: dict[str, str] = field(default_factory=dict)
    by_title: dict[str, list[str]] = field(default_factory=dict)
    by_title_prefix: dict[str, list[str]] = field(default_factory=dict)
    body_start: dict[str, str] = field(default_factory=dict)

    def add(self, docid: str, text: str, title: str | None = None, url: str | None = None) -> None:
        self.docids.add(docid)
        if url:
            self.by_url.setdefault(norm_url(url), docid)
        shown_title, body = title_and_body(text)
        titles = {norm_title(t) for t in (title, shown_title) if t}
        for t in titles:
            self.by_title.setdefault(t, []).append(docid)
            if len(t) > TRUNCATED_TITLE:
                self.by_title_prefix.setdefault(t[:TRUNCATED_TITLE], []).append(docid)
        self.body_start[docid] = norm_text(body.lstrip("-\n "))[:80]

    def resolve_url(self, url: str) -> str | None:
        return self.by_url.get(norm_url(url))

    def resolve_title(self, title: str, body: str = "") -> str | None:
        """A docid for a displayed title; duplicate titles are told apart by the start of the displayed text."""
        key = norm_title(title)
        candidates = self.by_title.get(key)
        if candidates is None and key.endswith("…"):
            candidates = self.by_title_prefix.get(key[:-1].rstrip()[:TRUNCATED_TITLE])
        if not candidates:
            return None
        if len(candidates) == 1:
            return candidates[0]
        shown = norm_text(body.lstrip("-\n "))
        matching = [d for d in candidates if self.body_start[d] and shown.startswith(self.body_start[d][:40])]
        if not matching:
            matching = [d for d in candidates if self.body_start[d] and self.body_start[d].startswith(shown[:40])]
        return matching[0] if len(matching) == 1 else None

    def has_title(self, title: str) -> bool:
        return norm_title(title) in self.by_title


def iter_corpus(path: Path) -> Iterator[tuple[int, dict[str, Any] | None, str | None]]:
    """Yield ``(line, row, error)`` per non-blank line of a corpus JSONL ({docid, text, title?, url?})."""
    with path.open("rb") as fh:
        for lineno, raw in enumerate(fh, 1):
            if not raw.strip():
                continue
            try:
                row = json.loads(raw.decode("utf-8"))
            except (UnicodeDecodeError, ValueError, RecursionError) as exc:
                yield lineno, None, f"corpus line is not valid JSON: {exc}"
                continue
            if not isinstance(row, dict):
                yield lineno, None, f"corpus line is a JSON {type(row).__name__}, expected an object"
                continue
            docid = row.get("docid", row.get("id", row.get("_id")))
            text = row.get("text", row.get("contents"))
            if docid is None or not isinstance(text, str):
                yield lineno, None, "corpus line needs a 'docid' (or 'id') and a string 'text' (or 'contents')"
                continue
            row["docid"], row["text"] = str(docid).strip(), text
            yield lineno, row, None


def load_corpus(path: Path, reject: Callable[[str, int | None, str], None] | None = None) -> CorpusIndex:
    index = CorpusIndex()
    for lineno, row, error in iter_corpus(path):
        if row is None:
            if reject is not None:
                reject(str(path), lineno, error or "unreadable corpus line")
            continue
        title = row.get("title") if isinstance(row.get("title"), str) else None
        url = row.get("url") if isinstance(row.get("url"), str) else None
        index.add(row["docid"], row["text"], title, url)
    return index
