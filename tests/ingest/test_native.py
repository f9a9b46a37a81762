"""The native format: normalized records read back equal, and broken ones rejected with the field named."""

from __future__ import annotations

import copy
import json
from pathlib import Path

import pytest

from lrat.ingest.native import parse_native
from lrat.ingest.runner import ingest
from lrat.ingest.schema import RecordError

from ..conftest import SAMPLES
from .test_runner import read_jsonl


def test_samples_round_trip_through_native(tmp_path: Path):
    joins = dict(corpus=SAMPLES / "corpus.jsonl", queries=SAMPLES / "queries.tsv",
                 qrels_evidence=SAMPLES / "qrel_evidence.txt", ground_truth=SAMPLES / "ground_truth.jsonl")
    first = ingest([SAMPLES / "runs"], tmp_path / "a", progress=False, **joins)
    assert first["rejected"] == 0 and set(first["by_format"]) == {"bcp", "openai-chat", "search-r1"}
    again = ingest([tmp_path / "a" / "trajectories.jsonl"], tmp_path / "b", progress=False)
    assert again["by_format"] == {"native": first["trajectories"]} and again["rejected"] == 0
    assert read_jsonl(tmp_path / "b" / "trajectories.jsonl") == read_jsonl(tmp_path / "a" / "trajectories.jsonl")


def _sample_record(tmp_path: Path) -> dict:
    ingest([SAMPLES / "runs" / "bcp_lrat"], tmp_path, progress=False)
    return read_jsonl(tmp_path / "trajectories.jsonl")[0]


@pytest.mark.parametrize(("mutate", "message"), [
    (lambda r: r.update(schema_version=2), "schema_version 2"),
    (lambda r: r.pop("steps"), "missing field 'steps'"),
    (lambda r: r.update(status="done"), "record.status 'done'"),
    (lambda r: r["steps"][1].update(ordinal=5), "steps[1].ordinal is 5, expected 1"),
    (lambda r: r["steps"][1]["results"].append("x"), "results[4]: expected an object"),
    (lambda r: r["steps"][3].update(found="yes"), "steps[3].found: expected bool"),
    (lambda r: r["steps"][0].update(kind="thought"), "steps[0]: expected an object with kind"),
])
def test_broken_native_records_name_the_field(tmp_path: Path, mutate, message):
    record = copy.deepcopy(_sample_record(tmp_path))
    mutate(record)
    with pytest.raises(RecordError, match=message.replace("[", r"\[").replace("]", r"\]")):
        parse_native(record)


def test_derived_fields_are_recomputed_on_reingest(tmp_path: Path):
    record = _sample_record(tmp_path)
    tampered = copy.deepcopy(record)
    browse = next(s for s in tampered["steps"] if s["kind"] == "browse")
    browse["attributed_search"], browse["reasoning_after"] = 99, "made up"
    (tmp_path / "in.jsonl").write_text(json.dumps(tampered) + "\n")
    ingest([tmp_path / "in.jsonl"], tmp_path / "out", progress=False)
    assert read_jsonl(tmp_path / "out" / "trajectories.jsonl") == [record]
