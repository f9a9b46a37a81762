"""TREC run files: written in rank order with the retriever's scores, read back by rank, malformed lines named by
file and line, and runs scored exactly as models are (`evaluate_runs` vs `score_runs`)."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from lrat.evaluation.offline import GOLD, METRICS, evaluate_runs, parse_runs, score_runs
from lrat.evaluation.trec import read_run, write_run


def test_written_lines_have_six_columns_in_rank_order(tmp_path: Path) -> None:
    path = tmp_path / "runs" / "lrat.trec"
    write_run(path, {"q2": [("d9", 0.75), ("d1", 0.75), ("d3", 0.125)], "q1": [("d1", 1e-07)]}, tag="lrat")
    lines = [line.split() for line in path.read_text(encoding="utf-8").splitlines()]
    assert lines == [["q2", "Q0", "d9", "1", "0.75", "lrat"], ["q2", "Q0", "d1", "2", "0.75", "lrat"],
                     ["q2", "Q0", "d3", "3", "0.125", "lrat"], ["q1", "Q0", "d1", "1", "1e-07", "lrat"]]
    assert float(lines[-1][4]) == 1e-07  # scores round-trip
    assert [p.name for p in path.parent.iterdir()] == ["lrat.trec"]  # no temp file left beside it
    # the retriever's order is kept through equal scores: ranks decide, not docids
    assert read_run(path) == {"q2": ["d9", "d1", "d3"], "q1": ["d1"]}


def test_a_failed_write_leaves_the_previous_run(tmp_path: Path) -> None:
    path = tmp_path / "base.trec"
    write_run(path, {"q": [("a", 1.0)]}, tag="base")
    before = path.read_text()
    with pytest.raises(ValueError, match="whitespace"):
        write_run(path, {"q": [("a", 1.0), ("b c", 0.5)]}, tag="base")
    assert path.read_text() == before and sorted(os.listdir(tmp_path)) == ["base.trec"]


def test_reading_orders_by_rank_then_score_then_line(tmp_path: Path) -> None:
    path = tmp_path / "bm25.trec"
    path.write_text("q1 Q0 c 3 9.0 bm25\n"
                    "q1 Q0 a 1 1.0 bm25\n\n"
                    "q1 0 b 2 5.0 other\n"  # any second column and tag
                    "q2 Q0 y 1 0.5 bm25\n"
                    "q2 Q0 x 1 0.7 bm25\n"  # the same rank: the higher score first
                    "q2 Q0 z 1 0.7 bm25\n", encoding="utf-8")  # same rank and score: line order
    assert read_run(path) == {"q1": ["a", "b", "c"], "q2": ["x", "z", "y"]}


@pytest.mark.parametrize(("line", "message"), [
    ("q1 Q0 d1 1 0.5", "expected 6 columns"),
    ("q1 Q0 d1 1 0.5 tag extra", "expected 6 columns"),
    ("q1 Q0 d1 first 0.5 tag", "rank 'first' is not an integer"),
    ("q1 Q0 d1 2 high tag", "score 'high' is not a finite number"),
    ("q1 Q0 d1 2 nan tag", "score 'nan' is not a finite number"),
    ("q1 Q0 d0 2 0.4 tag", "'d0' is ranked twice for question 'q1' (first on line 1)"),
])
def test_a_malformed_line_names_file_and_line(tmp_path: Path, line: str, message: str) -> None:
    path = tmp_path / "run.trec"
    path.write_text(f"q1 Q0 d0 1 0.9 tag\n{line}\n", encoding="utf-8")
    with pytest.raises(ValueError) as error:
        read_run(path)
    assert str(error.value).startswith(f"{path}:2: ") and message in str(error.value)


def test_empty_and_missing_runs_are_errors(tmp_path: Path) -> None:
    (tmp_path / "empty.trec").write_text("\n", encoding="utf-8")
    with pytest.raises(ValueError, match="empty TREC run"):
        read_run(tmp_path / "empty.trec")
    with pytest.raises(FileNotFoundError):
        read_run(tmp_path / "missing.trec")


def test_run_names_are_parsed_and_checked(tmp_path: Path) -> None:
    for name in ("a.trec", "b.trec"):
        (tmp_path / name).write_text("q Q0 d 1 1 x\n", encoding="utf-8")
    assert parse_runs([f"bm25={tmp_path / 'a.trec'}", str(tmp_path / "b.trec")]) == {
        "bm25": tmp_path / "a.trec", "b": tmp_path / "b.trec"}
    for bad in ([f"x={tmp_path / 'a.trec'}", f"x={tmp_path / 'b.trec'}"], [f"={tmp_path / 'a.trec'}"],
                [f"baseline={tmp_path / 'a.trec'}"], [f"a/b={tmp_path / 'a.trec'}"], []):
        with pytest.raises(ValueError):
            parse_runs(bad)
    with pytest.raises(FileNotFoundError, match="missing.trec"):
        parse_runs([f"x={tmp_path / 'missing.trec'}"])


def _write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


def test_runs_score_as_score_runs_scores_the_same_rankings(tmp_path: Path) -> None:
    """Questions: those of the qrels (a split's only with --split); a question a run does not rank scores 0."""
    qrels = _write(tmp_path / "qrels.txt", "q1 0 a 1\nq1 0 b 1\nq2 0 c 1\nq3 0 d 1\nq3 0 x 0\n")
    golds = _write(tmp_path / "golds.txt", "q1 0 b 1\nq3 0 d 1\n")
    splits = _write(tmp_path / "splits.json", json.dumps({"train": ["q3"], "test": ["q1", "q2"]}))
    base = {"q1": ["x", "a", "y", "b"], "q2": ["c"], "q9": ["a"]}  # q9: no qrels, not scored
    other = {"q1": ["b", "a"], "q3": ["d"]}  # q2 left out
    runs = {}
    for name, ranking in (("base", base), ("other", other)):
        runs[name] = tmp_path / f"{name}.trec"
        write_run(runs[name], {q: [(d, 1.0) for d in docids] for q, docids in ranking.items()}, tag=name)
    warned: list[str] = []
    everything = evaluate_runs(runs, qrels, qrels_golds=golds, warn=warned.append)
    evidence = {"q1": {"a": 1, "b": 1}, "q2": {"c": 1}, "q3": {"d": 1}}
    means, significance = score_runs(evidence, {"base": base, "other": other})
    gold_means, gold_significance = score_runs({"q1": {"b": 1}, "q3": {"d": 1}}, {"base": base, "other": other})
    assert everything["split"] is None and everything["n_queries"] == 3 and everything["n_queries_gold"] == 2
    assert everything["depth"] == 4
    assert everything["models"] == {name: {**means[name], GOLD: gold_means[name]} for name in means}
    assert everything["significance"] == {**significance, "other": {**significance["other"],
                                                                   GOLD: gold_significance["other"]}}
    assert everything["runs"] == {name: str(path) for name, path in runs.items()}
    assert everything["qrels"] == str(qrels) and everything["qrels_golds"] == str(golds)
    assert everything["models"]["other"]["recall@10"] == round((1 + 0 + 1) / 3, 4)  # q2 scored 0
    assert len(warned) == 2 and "'base'" in warned[0] and "1 of the 3" in warned[0] and "'q3'" in warned[0]
    assert "'other'" in warned[1] and "'q2'" in warned[1]

    test = evaluate_runs(runs, qrels, "test", splits)
    assert test["split"] == "test" and test["n_queries"] == 2 and "n_queries_gold" not in test
    test_means, _ = score_runs({"q1": evidence["q1"], "q2": evidence["q2"]}, {"base": base, "other": other})
    assert test["models"] == test_means and list(test["models"]["base"]) == list(METRICS)
    with pytest.raises(ValueError, match="unknown split 'dev'"):
        evaluate_runs(runs, qrels, "dev", splits)
    with pytest.raises(ValueError, match="no question with a gold document"):
        evaluate_runs(runs, qrels, "test", splits, qrels_golds=_write(tmp_path / "g2.txt", "q3 0 d 1\n"))
    with pytest.raises(ValueError, match="no question with a relevant document"):
        evaluate_runs(runs, _write(tmp_path / "none.txt", "q1 0 a 0\n"))
