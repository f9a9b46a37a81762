"""Capture shards of ``lrat serve --capture`` (lrat.serving.capture) back into normalized trajectories.

A shard holds one event per call; a trajectory's calls can be spread over many shards and replicas, so the events of
every shard given to one ingest run are grouped by the caller's trajectory id first (in memory), then each group is
sorted by ``(time, replica, seq)`` and rebuilt into the steps the other formats give. Each event's reasoning comes
before its call, so a browse's ``reasoning_after`` is the reasoning the caller sent with its next call.

Trajectories are kept whatever their state: one that never called ``/finish`` is ``incomplete`` with a warning.
Malformed event lines are rejected one by one (file and line), never the whole shard.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from lrat.capture_events import CALLS, MARKER, OPEN, VERSION
from lrat.ingest.context import RecordContext
from lrat.ingest.reader import JSONL_SUFFIXES, Unit
from lrat.ingest.schema import RecordError, Steps, new_record, result

FORMAT = "service"
WRITER = "lrat-serve"
HEAD_BYTES = 8 << 20  # the first line of a shard is one event; never read more than this to recognise one

STATUS_FINISHED = "finished"
STATUS_NO_ANSWER = "finished without an answer"
STATUS_NO_FINISH = "no /finish"

OPEN_SHARD_HINT = (
    "open capture shard (the service is still writing it, or crashed): not read; seal it by restarting the service "
    "on its folder, or with lrat.serving.capture.seal_orphans(folder)"
)


def is_open_shard(path: Path | str) -> bool:
    """A shard the service has not sealed yet (``<replica>-<n>.jsonl.open``)."""
    return str(path).endswith(OPEN)


def is_capture_shard(path: Path) -> bool:
    """A .jsonl/.ndjson file whose first non-blank line is a JSON object with the ``lrat_capture`` key."""
    if path.suffix.lower() not in JSONL_SUFFIXES:
        return False
    try:
        with path.open("rb") as fh:
            read = 0
            while read < HEAD_BYTES:
                raw = fh.readline(HEAD_BYTES - read)
                if not raw:
                    return False
                read += len(raw)
                if raw.strip():
                    value = json.loads(raw)
                    return isinstance(value, dict) and MARKER in value
    except (OSError, ValueError, RecursionError):
        return False
    return False


# event checks ----------------------------------------------------------------------------------------------------


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value: Any) -> bool:
    return (isinstance(value, (int, float)) and not isinstance(value, bool)) and math.isfinite(value)


def _is_text(value: Any) -> bool:
    return isinstance(value, str) and value != ""


def _is_str_or_none(value: Any) -> bool:
    return value is None or isinstance(value, str)


def _is_rows(value: Any) -> bool:
    return isinstance(value, list) and all(
        isinstance(r, dict) and isinstance(r.get("docid"), str) and _is_number(r.get("score")) for r in value)


def _is_str_list(value: Any) -> bool:
    return isinstance(value, list) and all(isinstance(v, str) for v in value)


_COMMON: tuple[tuple[str, Any, str], ...] = (
    ("time", _is_number, "a finite number (unix seconds)"),
    ("replica", _is_text, "a non-empty string"),
    ("seq", _is_int, "an integer"),
    ("trajectory_id", _is_text, "a non-empty string"),
    ("model", lambda v: isinstance(v, dict) and isinstance(v.get("name"), str) and isinstance(v.get("version"), str),
     "an object {name: str, version: str}"),
    ("reasoning", _is_str_list, "a list of strings"),
    ("question", _is_str_or_none, "a string or null"),
    ("question_id", _is_str_or_none, "a string or null"),
)
_BY_CALL: dict[str, tuple[tuple[str, Any, str], ...]] = {
    "search": (("query", lambda v: isinstance(v, str), "a string"), ("k", _is_int, "an integer"),
               ("results", _is_rows, "a list of {docid: str, score: number}")),
    "search_batch": (("queries", _is_str_list, "a list of strings"), ("k", _is_int, "an integer"),
                     ("results", lambda v: isinstance(v, list) and all(_is_rows(rows) for rows in v),
                      "a list (one per query) of lists of {docid: str, score: number}")),
    "get_document": (("docid", lambda v: isinstance(v, str), "a string"), ("found", lambda v: isinstance(v, bool),
                                                                            "true or false")),
    "finish": (("answer", _is_str_or_none, "a string or null"),
               ("success", lambda v: v is None or isinstance(v, bool), "true, false or null")),
}


def event_error(value: Any) -> str | None:
    """Why ``value`` is not a capture event this reader understands, or None when it is one."""
    if not isinstance(value, dict):
        return f"capture event is a JSON {type(value).__name__}, expected an object"
    if MARKER not in value:
        keys = ", ".join(sorted(map(str, value))[:12]) or "none"
        return f"not a capture event (no '{MARKER}' key; keys found: {keys})"
    if value[MARKER] != VERSION:
        return f"capture event version {value[MARKER]!r} is not supported (expected {VERSION})"
    call = value.get("call")
    if call not in CALLS:
        return f"capture event has an unknown call {call!r}; expected one of {', '.join(CALLS)}"
    for key, ok, expected in (*_COMMON, *_BY_CALL[call]):
        if key not in value:
            return f"capture event ({call}) is missing '{key}'"
        if not ok(value[key]):
            found = "null" if value[key] is None else f"a {type(value[key]).__name__}"
            return f"capture event ({call}): '{key}' must be {expected}, found {found}"
    if call == "search_batch" and len(value["results"]) != len(value["queries"]):
        return (f"capture event (search_batch) has {len(value['results'])} result lists for "
                f"{len(value['queries'])} queries")
    return None


# grouping --------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Event:
    """One checked event and where it was read."""

    data: dict[str, Any]
    display: str
    rel: str
    line: int

    @property
    def order(self) -> tuple[float, str, int]:
        return (self.data["time"], self.data["replica"], self.data["seq"])


@dataclass
class CapturedTrajectory:
    """The events of one caller trajectory id, from every shard read; the record the ``service`` parser reads."""

    caller_id: str
    events: list[Event] = field(default_factory=list)

    def unit(self) -> Unit:
        """A Unit for the runner: placed at the first event (in call order), so rejects and source point there."""
        first = min(self.events, key=lambda e: e.order)
        return Unit(first.display, first.rel, first.line, None, record=self)


class Captured:
    """Events grouped by trajectory id across shards and replicas; refuses an event read twice (same replica, seq)."""

    def __init__(self) -> None:
        self.groups: dict[str, CapturedTrajectory] = {}
        self._seen: dict[tuple[str, int], str] = {}

    def add(self, unit: Unit) -> str | None:
        """Keep the event of ``unit``; returns why it was refused, or None."""
        error = event_error(unit.record)
        if error is not None:
            return error
        data = unit.record
        key = (data["replica"], data["seq"])
        where = f"{unit.display}:{unit.line}"
        if key in self._seen:
            return (f"duplicate capture event: replica {key[0]!r} seq {key[1]} was already read at {self._seen[key]} "
                    "(the same shard given twice?)")
        self._seen[key] = where
        group = self.groups.setdefault(data["trajectory_id"], CapturedTrajectory(data["trajectory_id"]))
        group.events.append(Event(data, unit.display, unit.rel, unit.line or 0))
        return None

    def trajectories(self) -> Iterator[CapturedTrajectory]:
        """Every group, the earliest-started first."""
        yield from sorted(self.groups.values(), key=lambda g: min(e.order for e in g.events))


# rebuilding ------------------------------------------------------------------------------------------------------


def _results(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Ranked rows with rank = display position; a docid shown twice keeps its first place (rule 3)."""
    out: list[dict[str, Any]] = []
    seen: set[str] = set()
    for row in rows:
        if row["docid"] not in seen:
            seen.add(row["docid"])
            out.append(result(row["docid"], len(out) + 1, float(row["score"])))
    return out


def _first(events: list[dict[str, Any]], key: str) -> str | None:
    return next((e[key] for e in events if e[key] is not None), None)


def parse_service(record: Any, ctx: RecordContext) -> dict[str, Any]:
    """One caller trajectory (its events, from any shards) to a normalized record."""
    if not isinstance(record, CapturedTrajectory) or not record.events:
        raise RecordError("the service format is read from whole capture shards (.jsonl files written by "
                          "`lrat serve --capture`), not record by record")
    events = [e.data for e in sorted(record.events, key=lambda e: e.order)]
    steps = Steps()
    warnings: list[str] = []
    k: int | None = None
    finishes: list[dict[str, Any]] = []
    after_finish = 0
    version = events[0]["model"]
    for event in events:
        model = event["model"]
        if (model["name"], model["version"]) != (version["name"], version["version"]):
            warnings.append(f"model_version_changed:{version['name']}/{version['version']}"
                            f" -> {model['name']}/{model['version']}")
            version = model
        if finishes and event["call"] != "finish":
            after_finish += 1
        for part in event["reasoning"]:
            steps.reasoning(part)
        call = event["call"]
        if call == "search":
            k = event["k"] if k is None else k
            steps.search(event["query"], [event["query"]], _results(event["results"]))
        elif call == "search_batch":
            k = event["k"] if k is None else k
            for query, rows in zip(event["queries"], event["results"], strict=True):
                steps.search(query, [query], _results(rows))
        elif call == "get_document":
            steps.browse(event["docid"], None, event["found"], None if event["found"] else "unknown docid")
        else:
            finishes.append(event)
            if isinstance(event["answer"], str):
                steps.answer(event["answer"])
    if after_finish:
        warnings.append(f"calls_after_finish:{after_finish} call(s) recorded after the trajectory's first /finish")
    if len(finishes) > 1:
        warnings.append(f"repeated_finish:{len(finishes)} /finish calls; the last one gives the status and answer")
    last = finishes[-1] if finishes else None
    answer = last["answer"] if last is not None else None
    if last is None:
        status, status_raw = "incomplete", STATUS_NO_FINISH
        warnings.append("no_finish: the caller never called /finish for this trajectory (it gave up, crashed, is "
                        "still running, or does not call /finish); kept as incomplete")
    elif answer is not None:
        status, status_raw = "completed", STATUS_FINISHED
    else:
        status, status_raw = "incomplete", STATUS_NO_ANSWER
    first_model = events[0]["model"]
    out = new_record(
        FORMAT,
        ctx,
        record_id=f"{FORMAT}:{record.caller_id}",
        steps=steps,
        status=status,
        status_raw=status_raw,
        query_id=_first(events, "question_id"),
        question=_first(events, "question"),
        answer_text=answer,
        writer=WRITER,
        retriever=f"{first_model['name']}/{first_model['version']}",
        k=k,
    )
    out["source"]["reported_success"] = last["success"] if last is not None else None
    out["warnings"] = warnings
    return out
