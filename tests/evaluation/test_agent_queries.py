"""Agent-query evaluation: the metrics by hand, which trajectories' queries are replayed (held-out questions only,
a question without logged queries counted), and the keys `lrat evaluate` adds to eval.json."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from typer.testing import CliRunner

from lrat.evaluation.agent import evaluate_agents
from lrat.evaluation.agent_queries import (
    LoggedQueries,
    evaluate_agent_queries,
    question_scores,
    read_logged_queries,
)
from lrat.evaluation.offline import read_qrels, read_split
from lrat.simulate.agent import AgentConfig

from .test_offline import Setup


def test_metrics_by_hand() -> None:
    """Evidence d1, d2. q1 ranks d1 first, q2 ranks d2 12th: the agent (k 10) saw d1 only; 100 deep, both."""
    filler = [f"x{i}" for i in range(200)]
    ranking = {"q1": ["d1", *filler[:99]], "q2": [*filler[100:111], "d2", *filler[111:199]]}
    logged = LoggedQueries(source="test", k=10, queries={"Q": ["q1", "q2"]})
    scores = question_scores(logged, {"Q": {"d1": 1, "d2": 1}}, ranking)
    assert scores["trajectory_recall@10"].tolist() == [0.5]
    assert scores["trajectory_recall@100"].tolist() == [1.0]
    assert scores["search_recall@10"].tolist() == [pytest.approx(0.25)]  # (1/2 + 0) / 2 searches
    ideal = 1 + 1 / 1.584962500721156  # two relevant pages: 1/log2(2) + 1/log2(3)
    assert scores["search_ndcg@10"].tolist() == [pytest.approx((1 / ideal + 0) / 2)]


def test_a_repeated_query_counts_again() -> None:
    ranking = {"hit": ["d1"], "miss": ["x"]}
    logged = LoggedQueries(source="test", k=10, queries={"Q": ["hit", "miss", "miss"]})
    assert question_scores(logged, {"Q": {"d1": 1}}, ranking)["search_recall@10"].tolist() == [pytest.approx(1 / 3)]


@pytest.fixture(scope="module")
def logs(setup: Setup, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The base agent's run files on the train AND the test questions, in one folder (as a team's logs are)."""
    root = tmp_path_factory.mktemp("logged")
    for split in ("train", "test"):
        evaluate_agents({"base": "base"}, setup.world_dir, split, 3, AgentConfig(), setup.cache, root / split,
                        progress=False)
    mixed = root / "mixed"
    mixed.mkdir()
    for path in (root / "train" / "base").glob("run_*.json"):
        shutil.copy(path, mixed / f"train_{path.name}")
    for path in (root / "test" / "base").glob("run_*.json"):
        shutil.copy(path, mixed / path.name)
    return mixed


def _searches(run: dict) -> list[str]:
    out = []
    for item in run["result"]:
        if item.get("type") == "tool_call" and item.get("tool_name") == "search":
            args = item["arguments"]
            out.append((json.loads(args) if isinstance(args, str) else args)["query"])
    return out


def test_only_held_out_questions_queries_are_read(logs: Path, setup: Setup) -> None:
    test_qids = read_split(setup.world_dir, "test")
    train_qids = set(read_split(setup.world_dir, "train"))
    logged = read_logged_queries(logs, test_qids, 10)
    assert set(logged.queries) == set(test_qids)
    assert logged.other_questions == len(list(logs.glob("train_run_*.json"))) == len(train_qids) > 0
    train_queries = {q for p in logs.glob("train_run_*.json") for q in _searches(json.loads(p.read_text()))}
    for qid in test_qids:  # the queries of each held-out question, in call order, read from its run file directly
        expected = _searches(json.loads((logs / f"run_{qid}.json").read_text()))
        assert logged.queries[qid] == expected
    only_train = train_queries - {q for asked in logged.queries.values() for q in asked}
    assert only_train, "the train questions' runs searched something no held-out run did"


def test_a_question_without_logged_queries_is_counted(logs: Path, setup: Setup, tmp_path: Path) -> None:
    test_qids = read_split(setup.world_dir, "test")
    folder = tmp_path / "runs"
    shutil.copytree(logs, folder)
    (folder / f"run_{test_qids[0]}.json").unlink()
    logged = read_logged_queries(folder, test_qids, 10)
    qrels = read_qrels(setup.world_dir / "qrel_evidence.txt")
    result = evaluate_agent_queries(setup.models, setup.world_dir / "corpus.jsonl", test_qids, qrels, logged,
                                    setup.cache, None, "base")
    summary = result["summary"]
    assert summary["questions_without_queries"] == [test_qids[0]]
    assert summary["n_questions_without_queries"] == 1
    assert summary["n_questions"] == len([q for q in test_qids if q in qrels]) - 1
    assert set(result["models"]) == {"base", "small"}
    # the better model (the packaged MiniLM) finds more evidence with the same queries than its 2-layer cut
    assert result["models"]["base"]["trajectory_recall@10"] > result["models"]["small"]["trajectory_recall@10"]
    assert set(result["significance"]) == {"small"}


def test_logs_of_another_benchmark_with_the_same_ids_are_left_out(logs: Path, setup: Setup, tmp_path: Path) -> None:
    from lrat.evaluation.offline import read_queries

    test_qids = read_split(setup.world_dir, "test")
    folder = tmp_path / "runs"
    shutil.copytree(logs, folder)
    path = folder / f"run_{test_qids[0]}.json"
    run = json.loads(path.read_text())
    run["query"] = "A question of some other benchmark that reuses this id?"
    path.write_text(json.dumps(run))
    logged = read_logged_queries(folder, test_qids, 10, read_queries(setup.world_dir / "queries.tsv"))
    assert logged.other_benchmark == 1 and not logged.queries.get(test_qids[0])
    assert all(logged.queries.get(q) for q in test_qids[1:])


def test_malformed_run_file_is_counted_with_its_file(logs: Path, setup: Setup, tmp_path: Path) -> None:
    folder = tmp_path / "runs"
    shutil.copytree(logs, folder)
    (folder / "run_broken.json").write_text("{not json", encoding="utf-8")
    logged = read_logged_queries(folder, read_split(setup.world_dir, "test"), 10)
    assert len(logged.rejected) == 1 and "run_broken.json" in logged.rejected[0]


def _params(setup: Setup, tmp_path: Path) -> str:
    path = tmp_path / "params.yaml"
    path.write_text(f"retrieval:\n  cache_dir: {setup.cache}\n", encoding="utf-8")
    return str(path)


def test_evaluate_writes_agent_query_keys(setup: Setup, logs: Path, tmp_path: Path) -> None:
    from lrat.cli import app

    out = tmp_path / "eval.json"
    result = CliRunner().invoke(app, ["evaluate", "--world", str(setup.world_dir), "--model", "base=base",
                                      "--model", f"small={setup.small}", "--no-agent", "--agent-queries",
                                      str(logs), "--out", str(out), "--params", _params(setup, tmp_path),
                                      "--quiet"])
    assert result.exit_code == 0, result.output
    report = json.loads(out.read_text())
    for name in ("base", "small"):
        assert set(report["models"][name]["agent_queries"]) == {"trajectory_recall@10", "trajectory_recall@100",
                                                                 "search_ndcg@10", "search_recall@10"}
        assert "recall@10" in report["models"][name]  # the question-level keys are unchanged
    assert set(report["significance"]["small"]["agent_queries"]["search_ndcg@10"]) == {"p_value", "significant"}
    assert report["agent_queries"]["n_questions"] > 0 and report["agent_queries"]["source"] == str(logs)


def test_evaluate_without_logged_queries_says_why(setup: Setup, tmp_path: Path) -> None:
    from lrat.cli import app

    out = tmp_path / "eval.json"
    result = CliRunner().invoke(app, ["evaluate", "--world", str(setup.world_dir), "--no-agent", "--out", str(out),
                                      "--params", _params(setup, tmp_path), "--quiet"])
    assert result.exit_code == 0, result.output
    report = json.loads(out.read_text())
    assert "no logged queries" in report["agent_queries"]["skipped"]
    assert "agent_queries" not in report["models"]["base"]
