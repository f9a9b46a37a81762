"""Property-based checks: ingestion never raises, every record ends in exactly one place, native round-trips."""

from __future__ import annotations

import json
import tempfile
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from lrat.ingest.derive import derive
from lrat.ingest.native import parse_native
from lrat.ingest.reader import Unit
from lrat.ingest.runner import convert, ingest
from lrat.ingest.schema import RecordError
from lrat.ingest.tools import ToolNames

from .helpers import answer, docid_lines, get_doc, hits, search, think

DOCIDS = st.sampled_from(["1", "2", "3", "4", "5", "DocID:2", " 3 "])
TEXT = st.text(max_size=30)
JSON_LEAF = st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | TEXT
JSON = st.recursive(JSON_LEAF, lambda c: st.lists(c, max_size=4) | st.dictionaries(TEXT, c, max_size=4), max_leaves=20)


@st.composite
def bcp_items(draw: st.DrawFn) -> dict[str, Any]:
    kind = draw(st.sampled_from(["think", "search", "search_lines", "browse", "answer", "null_search"]))
    if kind == "think":
        return think(draw(TEXT | st.lists(TEXT, max_size=3)))
    if kind == "search":
        return search(draw(TEXT), hits(*draw(st.lists(DOCIDS, max_size=5))))
    if kind == "search_lines":
        return search(draw(st.lists(TEXT, min_size=1, max_size=2)), docid_lines(*draw(st.lists(DOCIDS, max_size=5))))
    if kind == "null_search":
        return search(draw(TEXT), None)
    if kind == "browse":
        return get_doc(draw(DOCIDS), draw(st.sampled_from(["found", None, '{"error": "nope"}'])))
    return answer(draw(TEXT))


@st.composite
def bcp_records(draw: st.DrawFn) -> dict[str, Any]:
    return {"query_id": draw(st.integers(0, 50)), "status": draw(st.sampled_from(["completed", "incomplete", ""])),
            "result": draw(st.lists(bcp_items(), max_size=12))}


@st.composite
def mutated(draw: st.DrawFn) -> Any:
    """A valid record with one random subtree replaced by random JSON."""
    record = draw(bcp_records())
    node: Any = record
    for _ in range(draw(st.integers(0, 3))):
        if isinstance(node, dict) and node:
            key = draw(st.sampled_from(sorted(node)))
            if not isinstance(node[key], (dict, list)) or draw(st.booleans()):
                node[key] = draw(JSON)
                return record
            node = node[key]
        elif isinstance(node, list) and node:
            i = draw(st.integers(0, len(node) - 1))
            if not isinstance(node[i], (dict, list)) or draw(st.booleans()):
                node[i] = draw(JSON)
                return record
            node = node[i]
    return draw(JSON) if draw(st.booleans()) else record


def _convert(record: Any) -> dict[str, Any] | None:
    try:
        return convert(Unit("x.json", "x.json", None, None, record=record), "auto", ToolNames(), None)[1]
    except RecordError as exc:
        assert str(exc)
        return None


@settings(max_examples=300, deadline=None)
@given(record=mutated() | JSON)
def test_any_json_is_either_a_valid_record_or_a_reject(record):
    out = _convert(record)
    if out is not None:
        # whatever ingestion writes is itself a valid native record, and re-ingesting it changes nothing
        assert derive(parse_native(json.loads(json.dumps(out)))) == out


@settings(max_examples=200, deadline=None)
@given(record=bcp_records())
def test_valid_runs_always_ingest(record):
    out = _convert(record)
    assert out is not None
    assert sum(s["kind"] == "search" for s in out["steps"]) == sum(
        i["type"] == "tool_call" and i["tool_name"] == "search" for i in record["result"])


LINES = st.one_of(
    bcp_records().map(json.dumps),
    mutated().map(lambda r: json.dumps(r)),
    st.text(min_size=1, max_size=40).filter(lambda s: "\n" not in s and "\r" not in s and s.strip()),
    st.binary(min_size=1, max_size=40).filter(lambda b: b"\n" not in b and b.strip()),
)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(lines=st.lists(LINES, min_size=1, max_size=8))
@example(lines=["null"])  # a JSON null once passed for a blank line and vanished uncounted
def test_every_jsonl_line_ends_in_trajectories_or_rejects(lines):
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        data = b"\n".join(line if isinstance(line, bytes) else line.encode() for line in lines) + b"\n"
        (root / "in.jsonl").write_bytes(data)
        summary = ingest([root / "in.jsonl"], root / "out", progress=False)
        non_blank = sum(1 for raw in data.split(b"\n") if raw.strip())
        assert summary["trajectories"] + summary["rejected"] == non_blank
        written = (root / "out" / "trajectories.jsonl").read_text().splitlines()
        assert len(written) == summary["trajectories"]
        if not written:
            return
        again = ingest([root / "out" / "trajectories.jsonl"], root / "again", progress=False)
        assert again["rejected"] == 0
        assert (root / "again" / "trajectories.jsonl").read_text().splitlines() == written
