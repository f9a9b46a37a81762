"""Run files, corpus and benchmark files that do not belong together: counted, warned about, or refused (exit 2)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from lrat.cli import app
from lrat.ingest.checks import WRONG_CORPUS_MIN_DOCIDS
from lrat.ingest.runner import UsageError, ingest

from .helpers import answer, get_doc, hits, search
from .test_runner import read_jsonl, write

runner = CliRunner()
DOCS = [f"d{i}" for i in range(30)]


def runs_file(path: Path, qids: list[str], docids: list[str]) -> Path:
    """A BC+ JSONL run file, one run per qid: each search shows ``docids`` 5 at a time and opens the first."""
    lines = []
    for qid in qids:
        result = []
        for start in range(0, len(docids), 5):
            shown = docids[start:start + 5]
            result += [search("q", hits(*shown)), get_doc(shown[0])]
        lines.append(json.dumps({"query_id": qid, "status": "completed", "result": [*result, answer()]}))
    return write(path, "\n".join(lines) + "\n")


def corpus_file(path: Path, docids: list[str]) -> Path:
    return write(path, "".join(json.dumps({"docid": d, "text": f"Title {d}\nbody"}) + "\n" for d in docids))


def qrels_file(path: Path, qids: list[str]) -> Path:
    return write(path, "".join(f"{q} Q0 d0 1\n" for q in qids))


def queries_file(path: Path, qids: list[str]) -> Path:
    return write(path, "".join(f"{q}\tquestion {q}\n" for q in qids))


@pytest.fixture
def bench(tmp_path: Path) -> dict[str, Path]:
    """A benchmark whose files all match runs on questions 1-3."""
    qids = ["1", "2", "3", "4"]
    gt = "".join(json.dumps({"query_id": q, "query": f"question {q}", "answer": "x"}) + "\n" for q in qids)
    return {
        "corpus": corpus_file(tmp_path / "b" / "corpus.jsonl", DOCS),
        "queries": queries_file(tmp_path / "b" / "queries.tsv", qids),
        "qrels_evidence": qrels_file(tmp_path / "b" / "qrel_evidence.txt", qids),
        "qrels_golds": qrels_file(tmp_path / "b" / "qrel_golds.txt", qids),
        "ground_truth": write(tmp_path / "b" / "ground_truth.jsonl", gt),
    }


def cli(runs: Path, out: Path, **files: Path):
    args = ["ingest", str(runs), "--out", str(out), "--quiet"]
    for name, path in files.items():
        args += [f"--{name.replace('_', '-')}", str(path)]
    return runner.invoke(app, args)


def test_matching_inputs_give_zero_counts_and_no_warnings(tmp_path: Path, bench: dict[str, Path]):
    runs = runs_file(tmp_path / "runs" / "r.jsonl", ["1", "2", "3"], DOCS[:20])
    messages: list[str] = []
    summary = ingest([runs], tmp_path / "out", progress=False, log=messages.append, **bench)
    assert not [m for m in messages if "warning" in m]
    check = summary["corpus_check"]
    assert check["docids_referenced"] == 20 and check["docids_missing"] == 0
    assert check["results"] == {"references": 60, "missing_references": 0, "missing_docids": 0, "examples": []}
    assert check["browses"]["references"] == 12 and check["browses"]["missing_references"] == 0
    assert summary["benchmark_check"]["run_query_ids"] == 3
    for role in ("queries", "qrels_evidence", "qrels_golds", "ground_truth"):
        assert summary["benchmark_check"][role] == {"ids": 4, "run_query_ids_found": 3, "run_query_ids_missing": 0,
                                                    "missing_examples": []}
    assert json.loads((tmp_path / "out" / "summary.json").read_text()) == summary
    result = cli(runs, tmp_path / "out2", **bench)
    assert result.exit_code == 0 and "warning" not in result.stderr


def test_a_few_unknown_docids_are_counted_with_where_they_appeared(tmp_path: Path, bench: dict[str, Path]):
    runs = tmp_path / "runs" / "r.jsonl"
    runs_file(runs, ["1", "2"], DOCS[:20])
    with runs.open("a") as fh:  # line 3: one search showing two docids the corpus lacks, one of them opened
        fh.write(json.dumps({"query_id": "3", "status": "completed",
                             "result": [search("q", hits("ghost1", "d1", "ghost2")), get_doc("ghost2"), answer()]}))
    messages: list[str] = []
    summary = ingest([runs], tmp_path / "out", progress=False, log=messages.append, corpus=bench["corpus"])
    check = summary["corpus_check"]
    assert check["docids_referenced"] == 22 and check["docids_missing"] == 2
    assert check["results"]["missing_references"] == 2 and check["results"]["missing_docids"] == 2
    assert check["results"]["examples"] == [{"docid": "ghost1", "where": f"{runs}:3"},
                                            {"docid": "ghost2", "where": f"{runs}:3"}]
    assert check["browses"] == {"references": 9, "missing_references": 1, "missing_docids": 1,
                                "examples": [{"docid": "ghost2", "where": f"{runs}:3"}]}
    warning = [m for m in messages if m.startswith("warning")]
    assert len(warning) == 1 and "2 of the 22 docids" in warning[0] and f"ghost1 ({runs}:3)" in warning[0]
    result = cli(runs, tmp_path / "out2", corpus=bench["corpus"])
    assert result.exit_code == 0 and "ghost2" in result.stderr  # shown even with --quiet
    assert len(read_jsonl(tmp_path / "out2" / "trajectories.jsonl")) == 3


def test_failed_browses_of_unknown_docids_are_not_a_corpus_mismatch(tmp_path: Path, bench: dict[str, Path]):
    record = {"query_id": "1", "status": "completed",
              "result": [search("q", hits("d1")), get_doc("nope", "[Document not found]"), answer()]}
    runs = write(tmp_path / "r.json", record)
    summary = ingest([runs], tmp_path / "out", progress=False, corpus=bench["corpus"])
    assert summary["corpus_check"]["browses"]["references"] == 0 and summary["corpus_check"]["docids_missing"] == 0


def test_another_corpus_is_refused_and_outputs_are_left_alone(tmp_path: Path, bench: dict[str, Path]):
    runs = runs_file(tmp_path / "runs" / "r.jsonl", ["1", "2"], [f"x{i}" for i in range(25)])
    out = tmp_path / "out"
    write(out / "trajectories.jsonl", "previous\n")
    with pytest.raises(UsageError) as exc:
        ingest([runs], out, progress=False, corpus=bench["corpus"])
    message = str(exc.value)
    assert "25 of the 25 docids" in message and str(bench["corpus"]) in message and "x0 (" in message
    assert "data.corpus" in message and "--corpus" in message
    # the temp files are gone and the previous output is untouched: nothing looks like a finished run
    assert sorted(p.name for p in out.iterdir()) == ["trajectories.jsonl"]
    assert (out / "trajectories.jsonl").read_text() == "previous\n"
    result = cli(runs, tmp_path / "out2", corpus=bench["corpus"])
    assert result.exit_code == 2
    assert "25 of the 25 docids" in result.stderr and str(bench["corpus"]) in result.stderr
    assert not (tmp_path / "out2").exists() or not any((tmp_path / "out2").iterdir())


def test_too_few_docids_to_judge_only_warn(tmp_path: Path, bench: dict[str, Path]):
    few = [f"x{i}" for i in range(WRONG_CORPUS_MIN_DOCIDS - 1)]
    runs = runs_file(tmp_path / "r.jsonl", ["1"], few)
    messages: list[str] = []
    summary = ingest([runs], tmp_path / "out", progress=False, log=messages.append, corpus=bench["corpus"])
    assert summary["corpus_check"]["docids_missing"] == len(few)
    assert any(m.startswith(f"warning: {len(few)} of the {len(few)} docids") for m in messages)


def test_queries_of_another_benchmark_exit_2_naming_the_file(tmp_path: Path, bench: dict[str, Path]):
    runs = runs_file(tmp_path / "r.jsonl", ["1", "2", "3"], DOCS[:5])
    other = queries_file(tmp_path / "other" / "queries.tsv", ["a", "b"])
    result = cli(runs, tmp_path / "out", corpus=bench["corpus"], queries=other)
    assert result.exit_code == 2
    assert f"{other} shares no question with the run files (run files: 1, 2, 3; queries.tsv: a, b)" in result.stderr
    assert "another benchmark?" in result.stderr and "--queries" in result.stderr
    assert not (tmp_path / "out" / "trajectories.jsonl").exists()
    qrels = qrels_file(tmp_path / "other" / "qrels.txt", ["a"])
    result = cli(runs, tmp_path / "out", qrels_golds=qrels)
    assert result.exit_code == 2 and f"{qrels} shares no question" in result.stderr


def test_partial_overlap_is_reported_and_warned(tmp_path: Path, bench: dict[str, Path]):
    runs = runs_file(tmp_path / "r.jsonl", ["1", "2", "9", "10"], DOCS[:5])
    result = cli(runs, tmp_path / "out", **bench)
    assert result.exit_code == 0
    assert "2 of the 4 questions of the run files are not in" in result.stderr and "(e.g. 9, 10)" in result.stderr
    check = json.loads((tmp_path / "out" / "summary.json").read_text())["benchmark_check"]
    assert check["run_query_ids"] == 4
    assert check["queries"] == {"ids": 4, "run_query_ids_found": 2, "run_query_ids_missing": 2,
                                "missing_examples": ["9", "10"]}
    assert check["ground_truth"]["run_query_ids_missing"] == 2


def test_runs_without_query_ids_are_not_refused(tmp_path: Path, bench: dict[str, Path]):
    record = {"status": "completed", "result": [search("q", hits("d1")), answer()]}
    summary = ingest([write(tmp_path / "r.json", record)], tmp_path / "out", progress=False, **bench)
    assert summary["benchmark_check"]["run_query_ids"] == 0
    assert summary["benchmark_check"]["trajectories_without_query_id"] == 1
