"""`lrat split`: a seeded split by question for benchmarks that ship none, the world's own split in the simulated
default, the held-out questions the logs already answered reported, and clear errors for the inputs users mix up."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from lrat.cli import app
from lrat.settings import settings_from
from lrat.split.make import SplitSettings, make_split, split_settings

QUESTIONS = [f"q{i}" for i in range(50)]


def _split(source: str, seed: int = 13, **split: Any) -> SplitSettings:
    """What `lrat split` reads of a params.yaml with this data.source, `split:` and seed."""
    split = {k: str(v) if isinstance(v, Path) else v for k, v in split.items()}
    return split_settings(settings_from({"data": {"source": source}, "split": split, "seed": seed}))


def bench(tmp_path: Path, with_evidence: int = 40, qrels_ids: list[str] | None = None) -> tuple[Path, Path]:
    queries, qrels = tmp_path / "topics.tsv", tmp_path / "evidence.txt"
    queries.write_text("".join(f"{q}\twhich page names {q}?\n" for q in QUESTIONS), encoding="utf-8")
    ids = qrels_ids if qrels_ids is not None else QUESTIONS[:with_evidence]
    qrels.write_text("".join(f"{q} 0 doc-{q} 1\n" for q in ids), encoding="utf-8")
    return queries, qrels


def trajectories(tmp_path: Path, qids: list[str]) -> Path:
    path = tmp_path / "trajectories.jsonl"
    path.write_text("".join(json.dumps({"trajectory_id": f"t{i}", "query_id": q, "steps": []}) + "\n"
                            for i, q in enumerate(qids)), encoding="utf-8")
    return path


def test_seeded_split_holds_out_questions_with_evidence_and_reports_answered_ones(tmp_path: Path):
    queries, qrels = bench(tmp_path)
    logs = trajectories(tmp_path, QUESTIONS + QUESTIONS[:5])  # the agent answered every question, some twice
    report = make_split(_split("logs", test=0.25, seed=7), queries, qrels, tmp_path / "out", logs)
    splits = json.loads((tmp_path / "out" / "splits.json").read_text())
    assert set(splits) == {"train", "test"} and len(splits["test"]) == 10  # 0.25 of the 40 with evidence
    assert set(splits["test"]) <= set(QUESTIONS[:40])  # only questions whose recall can be measured
    assert sorted(splits["train"] + splits["test"]) == sorted(QUESTIONS)  # every question in exactly one split
    assert splits["test"] == [q for q in QUESTIONS if q in splits["test"]]  # the benchmark's order
    logs_report = report["logs"]
    assert logs_report["held_out_questions_with_trajectories"] == 10
    assert logs_report["held_out_trajectories"] == 10 + sum(q in splits["test"] for q in QUESTIONS[:5])
    assert set(logs_report["examples"]) <= set(splits["test"])
    again = make_split(_split("logs", test=0.25, seed=7), queries, qrels, tmp_path / "again", logs)
    assert (tmp_path / "again" / "splits.json").read_bytes() == (tmp_path / "out" / "splits.json").read_bytes()
    assert again == report
    make_split(_split("logs", test=0.25, seed=8), queries, qrels, tmp_path / "other")
    assert json.loads((tmp_path / "other" / "splits.json").read_text())["test"] != splits["test"]


def test_dev_share_and_a_shipped_split_file(tmp_path: Path):
    queries, qrels = bench(tmp_path)
    make_split(_split("logs", test=0.2, dev=0.1), queries, qrels, tmp_path / "out")
    splits = json.loads((tmp_path / "out" / "splits.json").read_text())
    assert (len(splits["test"]), len(splits["dev"])) == (8, 4) and not set(splits["test"]) & set(splits["dev"])
    shipped = tmp_path / "shipped.json"
    shipped.write_text(json.dumps({"train": QUESTIONS[2:], "test": QUESTIONS[:2]}), encoding="utf-8")
    report = make_split(_split("logs", file=shipped), queries, qrels, tmp_path / "kept")
    assert json.loads((tmp_path / "kept" / "splits.json").read_text())["test"] == QUESTIONS[:2]
    assert report["from"] == str(shipped)


def test_simulated_source_uses_the_worlds_own_split(tmp_path: Path):
    queries, qrels = bench(tmp_path)
    (tmp_path / "splits.json").write_text(json.dumps({"train": QUESTIONS[5:], "test": QUESTIONS[:5]}))
    make_split(_split("simulated"), queries, qrels, tmp_path / "out")
    assert json.loads((tmp_path / "out" / "splits.json").read_text())["test"] == QUESTIONS[:5]
    (tmp_path / "splits.json").unlink()
    with pytest.raises(FileNotFoundError, match="data.source: logs"):
        make_split(_split("simulated"), queries, qrels, tmp_path / "out")


def test_queries_and_qrels_of_two_benchmarks(tmp_path: Path):
    queries, qrels = bench(tmp_path, qrels_ids=[f"other-{i}" for i in range(30)])
    with pytest.raises(ValueError, match="share no question with evidence: qrels or queries for another benchmark"):
        make_split(_split("logs"), queries, qrels, tmp_path / "out")
    shipped = tmp_path / "shipped.json"
    queries, qrels = bench(tmp_path)
    shipped.write_text(json.dumps({"train": QUESTIONS, "test": ["x1", "x2"]}), encoding="utf-8")
    with pytest.raises(ValueError, match=r"2 question\(s\) not in .*'x1', 'x2'"):
        make_split(_split("logs", file=shipped), queries, qrels, tmp_path / "out")


def test_empty_test_split_is_an_error(tmp_path: Path):
    queries, qrels = bench(tmp_path, with_evidence=2)  # 0.2 of 2 questions rounds to none
    with pytest.raises(ValueError, match="the test split is empty"):
        make_split(_split("logs", test=0.2), queries, qrels, tmp_path / "out")
    assert not (tmp_path / "out" / "splits.json").exists()


def test_cli_reads_params_warns_about_answered_held_out_questions_and_exits_2_on_bad_input(tmp_path: Path):
    queries, qrels = bench(tmp_path)
    logs = trajectories(tmp_path, QUESTIONS)
    params = tmp_path / "params.yaml"
    params.write_text(f"seed: 3\ndata:\n  source: logs\n  queries: {queries}\n  qrels_evidence: {qrels}\n"
                      "split:\n  test: 0.1\n", encoding="utf-8")
    runner = CliRunner()
    args = ["split", "--params", str(params), "--out", str(tmp_path / "s"), "--metrics", str(tmp_path / "m.json"),
            "--trajectories", str(logs)]
    done = runner.invoke(app, args)
    assert done.exit_code == 0, done.output
    test = json.loads((tmp_path / "s" / "splits.json").read_text())["test"]
    assert len(test) == 4 and "Warning: 4 held-out question(s) have 4 trajectories" in done.stderr
    assert all(q in done.stderr for q in test)
    assert json.loads((tmp_path / "m.json").read_text())["splits"] == {"train": 46, "test": 4}
    params.write_text(f"data:\n  source: logs\n  queries: {queries}\n  qrels_evidence: {tmp_path / 'no.txt'}\n")
    missing = runner.invoke(app, args)
    assert missing.exit_code == 2 and "no.txt not found" in missing.stderr
