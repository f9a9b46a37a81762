"""The project's own format: normalized records read back, so normalized files can be re-ingested and merged.

Records are checked field by field; derived fields are recomputed by the runner, so a hand-edited file cannot
smuggle in an inconsistent attribution.
"""

from __future__ import annotations

import copy
from typing import Any

from lrat.ingest.schema import SCHEMA_VERSION, STATUSES, RecordError

_STEP_FIELDS: dict[str, dict[str, tuple[type, ...]]] = {
    "reasoning": {"text": (str,)},
    "search": {"ordinal": (int,), "query": (str, type(None)), "queries_requested": (list,),
               "results": (list, type(None)), "error": (str, type(None))},
    "browse": {"docid": (str, type(None)), "url": (str, type(None)), "found": (bool,), "error": (str, type(None))},
    "answer": {"text": (str,)},
    "other_tool": {"name": (str,), "output": (str, type(None))},
}
_RESULT_FIELDS: dict[str, tuple[type, ...]] = {
    "docid": (str, type(None)), "rank": (int,), "score": (float, int, type(None)),
    "title": (str, type(None)), "url": (str, type(None)),
}
_TOP_FIELDS: dict[str, tuple[type, ...]] = {
    "trajectory_id": (str,), "source": (dict,), "query_id": (str, type(None)), "question": (str, type(None)),
    "status": (str,), "status_raw": (str, type(None)), "final_answer": (dict, type(None)), "steps": (list,),
    "warnings": (list,),
}


def looks_like_native(record: Any) -> bool:
    return isinstance(record, dict) and "schema_version" in record and "steps" in record


def _check(obj: dict[str, Any], fields: dict[str, tuple[type, ...]], where: str) -> None:
    for key, types in fields.items():
        if key not in obj:
            raise RecordError(f"{where}: missing field '{key}'")
        value = obj[key]
        if isinstance(value, bool) and bool not in types:
            raise RecordError(f"{where}.{key}: expected {' or '.join(t.__name__ for t in types)}, found bool")
        if not isinstance(value, types):
            expected = " or ".join("null" if t is type(None) else t.__name__ for t in types)
            raise RecordError(f"{where}.{key}: expected {expected}, found {type(value).__name__}")


def parse_native(record: Any, ctx: Any = None) -> dict[str, Any]:
    if not isinstance(record, dict):
        raise RecordError(f"a normalized trajectory is a JSON object, found a JSON {type(record).__name__}")
    if record.get("schema_version") != SCHEMA_VERSION:
        raise RecordError(f"schema_version {record.get('schema_version')!r} is not supported (expected 1)")
    _check(record, _TOP_FIELDS, "record")
    if record["status"] not in STATUSES:
        raise RecordError(f"record.status {record['status']!r} is not one of {', '.join(STATUSES)}")
    searches = 0
    for i, step in enumerate(record["steps"]):
        where = f"steps[{i}]"
        if not isinstance(step, dict) or step.get("kind") not in _STEP_FIELDS:
            raise RecordError(f"{where}: expected an object with kind in {', '.join(_STEP_FIELDS)}")
        _check(step, _STEP_FIELDS[step["kind"]], where)
        if step["kind"] == "search":
            searches += 1
            if step["ordinal"] != searches:
                raise RecordError(f"{where}.ordinal is {step['ordinal']}, expected {searches}")
            for j, res in enumerate(step["results"] or []):
                if not isinstance(res, dict):
                    raise RecordError(f"{where}.results[{j}]: expected an object")
                _check(res, _RESULT_FIELDS, f"{where}.results[{j}]")
    out = copy.deepcopy(record)
    for i, step in enumerate(out["steps"]):
        step["idx"] = i
    return out
