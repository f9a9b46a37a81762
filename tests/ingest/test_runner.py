"""The ingest run as a whole: file handling, rejects, summary, joins, atomic outputs."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from lrat.ingest.runner import UsageError, ingest

from .helpers import answer, get_doc, hits, search, think

GOOD = {"query_id": "1", "status": "completed",
        "result": [search("q", hits("1")), get_doc("1"), think("ok"), answer()]}


def read_jsonl(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def write(path: Path, data: bytes | str | dict) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(data, dict):
        data = json.dumps(data)
    path.write_bytes(data if isinstance(data, bytes) else data.encode())
    return path


@pytest.fixture
def messy(tmp_path: Path) -> Path:
    root = tmp_path / "runs"
    write(root / "good.json", GOOD)
    write(root / "sub" / "good2.json", {**GOOD, "query_id": "2"})
    write(root / "empty.json", b"")
    write(root / "blank.jsonl", b"\n  \n")
    write(root / "binary.json", b"\x89PNG\r\n\x1a\n\x00\x00\x00")
    write(root / "latin1.json", json.dumps({**GOOD, "query_id": "caf\u00e9"}, ensure_ascii=False).encode("latin-1"))
    write(root / "truncated.json", json.dumps(GOOD)[:-40])
    write(root / "deep.json", "[" * 200_000 + "]" * 200_000)
    write(root / "shape.json", {"hello": "world"})
    broken = '{"query_id": "4", "result": ['
    lines = [json.dumps({**GOOD, "query_id": "3"}), broken, json.dumps({**GOOD, "query_id": "5"})]
    write(root / "runs.jsonl", "\n".join(lines) + "\n")
    write(root / "notes.md", "not data")
    return root


def test_bad_files_are_rejected_with_reasons_and_good_records_kept(messy: Path, tmp_path: Path):
    out = tmp_path / "out"
    summary = ingest([messy], out, progress=False)
    trajectories = read_jsonl(out / "trajectories.jsonl")
    assert sorted(t["query_id"] for t in trajectories) == ["1", "2", "3", "5"]
    rejects = {Path(r["path"]).name: r for r in read_jsonl(out / "rejects.jsonl")}
    assert set(rejects) == {"empty.json", "blank.jsonl", "binary.json", "latin1.json", "truncated.json",
                            "deep.json", "shape.json", "runs.jsonl"}
    assert "empty" in rejects["empty.json"]["error"] and "empty" in rejects["blank.jsonl"]["error"]
    assert "binary" in rejects["binary.json"]["error"]
    assert "UTF-8" in rejects["latin1.json"]["error"]
    assert "truncated JSON" in rejects["truncated.json"]["error"]
    assert "nested too deeply" in rejects["deep.json"]["error"]
    assert "unrecognised record" in rejects["shape.json"]["error"] and "hello" in rejects["shape.json"]["error"]
    assert rejects["runs.jsonl"]["line"] == 2 and "JSON" in rejects["runs.jsonl"]["error"]
    assert all(r["line"] is None for name, r in rejects.items() if name != "runs.jsonl")
    assert summary["trajectories"] == 4 and summary["rejected"] == 8 and summary["skipped_files"] == 1
    assert summary["by_format"] == {"bcp": 4} and summary["by_status"] == {"completed": 4}
    assert set(summary) >= {"inputs", "trajectories", "rejected", "by_format", "by_status", "warnings"}
    assert json.loads((out / "summary.json").read_text()) == summary
    assert sorted(p.name for p in out.iterdir()) == ["rejects.jsonl", "summary.json", "trajectories.jsonl"]


def test_source_paths_are_relative_to_their_input(messy: Path, tmp_path: Path):
    ingest([messy, messy / "good.json"], tmp_path / "a", progress=False)
    by_id = {t["trajectory_id"]: t for t in read_jsonl(tmp_path / "a" / "trajectories.jsonl")}
    assert by_id["bcp:sub/good2.json"]["source"]["path"] == "sub/good2.json"
    assert by_id["bcp:runs.jsonl#3"]["source"]["line"] == 3
    assert by_id["bcp:good.json"]["source"]["line"] is None
    rejects = read_jsonl(tmp_path / "a" / "rejects.jsonl")
    # the file given again on its own has the same relative id: refused as a duplicate, not written twice
    assert any("duplicate trajectory_id 'bcp:good.json'" in r["error"] for r in rejects)


def test_forced_format_mismatch_is_a_reject(tmp_path: Path):
    write(tmp_path / "in" / "run.json", GOOD)
    summary = ingest([tmp_path / "in"], tmp_path / "out", fmt="native", progress=False)
    (reject,) = read_jsonl(tmp_path / "out" / "rejects.jsonl")
    assert summary["trajectories"] == 0 and "schema_version" in reject["error"]


def test_json_array_file_holds_several_records(tmp_path: Path):
    write(tmp_path / "many.json", json.dumps([GOOD, {**GOOD, "query_id": "9"}, 5]))
    summary = ingest([tmp_path / "many.json"], tmp_path / "out", progress=False)
    ids = [t["trajectory_id"] for t in read_jsonl(tmp_path / "out" / "trajectories.jsonl")]
    assert ids == ["bcp:many.json#1", "bcp:many.json#2"] and summary["rejected"] == 1


def test_joins_fill_question_answer_and_qrels(tmp_path: Path):
    write(tmp_path / "run.json", GOOD)
    write(tmp_path / "queries.tsv", "1\tthe question\n2\tother\n")
    write(tmp_path / "ev.txt", "1 Q0 10 1\n1 Q0 11 1\n1 Q0 12 0\nbroken line\n")
    write(tmp_path / "golds.txt", "1 Q0 11 1\n")
    write(tmp_path / "gt.jsonl", '{"query_id": 1, "answer": "Kelda"}\n{"oops": 1}\n')
    summary = ingest([tmp_path / "run.json"], tmp_path / "out", queries=tmp_path / "queries.tsv",
                     qrels_evidence=tmp_path / "ev.txt", qrels_golds=tmp_path / "golds.txt",
                     ground_truth=tmp_path / "gt.jsonl", progress=False)
    (t,) = read_jsonl(tmp_path / "out" / "trajectories.jsonl")
    assert t["question"] == "the question" and t["gold_answer"] == "Kelda"
    assert t["gold_evidence_ids"] == ["10", "11"] and t["gold_answer_ids"] == ["11"]
    rejects = read_jsonl(tmp_path / "out" / "rejects.jsonl")
    assert [(Path(r["path"]).name, r["line"]) for r in rejects] == [("gt.jsonl", 2), ("ev.txt", 4)]
    assert summary["rejected"] == 2


def test_usage_errors(tmp_path: Path):
    with pytest.raises(UsageError, match="no such file"):
        ingest([tmp_path / "missing"], tmp_path / "out")
    with pytest.raises(UsageError, match="unknown format"):
        ingest([tmp_path], tmp_path / "out", fmt="xml")


def test_failed_run_leaves_previous_outputs_intact(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    write(tmp_path / "run.json", GOOD)
    ingest([tmp_path / "run.json"], tmp_path / "out", progress=False)
    before = (tmp_path / "out" / "trajectories.jsonl").read_text()

    def boom(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr("lrat.ingest.runner.read_units", boom)
    with pytest.raises(KeyboardInterrupt):
        ingest([tmp_path / "run.json"], tmp_path / "out", progress=False)
    assert (tmp_path / "out" / "trajectories.jsonl").read_text() == before
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["rejects.jsonl", "summary.json",
                                                                   "trajectories.jsonl"]
