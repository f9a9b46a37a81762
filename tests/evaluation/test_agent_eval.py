"""Agent-level evaluation: the JSON contract, evidence recall recomputed from the run files, common random numbers,
and the CLI's exit codes."""

from __future__ import annotations

import json
import re
import statistics
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from lrat.evaluation.agent import evaluate_agents, run_file_stats
from lrat.evaluation.command import evaluate_command
from lrat.simulate.agent import AgentConfig

from .test_offline import Setup

KEYS = ["success", "evidence_recall", "avg_search_calls", "avg_browse_calls"]


@pytest.fixture(scope="module")
def runs(setup: Setup, tmp_path_factory: pytest.TempPathFactory) -> tuple[dict, Path]:
    out = tmp_path_factory.mktemp("agent-runs")
    return evaluate_agents(setup.models, setup.world_dir, "test", 7, AgentConfig(), setup.cache, out,
                           progress=False), out


def test_contract_keys(runs: tuple[dict, Path], setup: Setup) -> None:
    result, _ = runs
    test_questions = [q for q in setup.world.questions if q.split == "test"]
    assert result["split"] == "test" and result["seed"] == 7 and result["n_questions"] == len(test_questions)
    assert list(result["models"]) == ["base", "small"]
    for values in result["models"].values():
        assert list(values) == KEYS
        assert 0.0 <= values["success"] <= 1.0 and 0.0 <= values["evidence_recall"] <= 1.0
        assert values["avg_search_calls"] >= 1.0 and values["avg_browse_calls"] >= 0.0
    json.dumps(result)


def test_evidence_recall_and_calls_recomputed_from_run_files(runs: tuple[dict, Path], setup: Setup) -> None:
    """Independent of the parser under test: the simulator's own record of what each run saw or opened
    (`retrieved_docids`), its tool-call counts, and the evidence from the world state."""
    result, out = runs
    questions = [q for q in setup.world.questions if q.split == "test"]
    for name in ("base", "small"):
        files = {q.qid: json.loads((out / name / f"run_{q.qid}.json").read_text()) for q in questions}
        assert len(list((out / name).glob("run_*.json"))) == len(questions)
        recall = statistics.mean(len(set(files[q.qid]["retrieved_docids"]) & set(q.evidence)) / len(q.evidence)
                                 for q in questions)
        searches = statistics.mean(files[q.qid]["tool_call_counts"].get("search", 0) for q in questions)
        browses = statistics.mean(files[q.qid]["tool_call_counts"].get("get_document", 0) for q in questions)
        answers = {q.qid: re.findall(r"^Exact Answer: (.*)$", str(files[q.qid]["result"][-1]["output"]), re.M)
                   for q in questions}
        correct = statistics.mean(answers[q.qid] == [q.answer] for q in questions)
        got = result["models"][name]
        assert got["evidence_recall"] == pytest.approx(recall, abs=1e-4), name
        assert got["avg_search_calls"] == pytest.approx(searches, abs=1e-3)
        assert got["avg_browse_calls"] == pytest.approx(browses, abs=1e-3)
        assert got["success"] == pytest.approx(correct, abs=1e-4)
    # the weaker retriever makes the agent search more for the same questions
    assert result["models"]["small"]["avg_search_calls"] > result["models"]["base"]["avg_search_calls"]


def test_run_file_parser_on_a_hand_made_run() -> None:
    run = {"result": [
        {"type": "reasoning", "tool_name": None, "arguments": None, "output": "DocID:99 is not a result"},
        {"type": "tool_call", "tool_name": "search", "arguments": '{"query": "x"}',
         "output": "A search for 'x' found 2 results:\n\n## Web Results\nDocID:1\n[A]\ntext\n\nDocID: 2\n[B]\nt"},
        {"type": "tool_call", "tool_name": "get_document", "arguments": '{"docid": "7"}', "output": "..."},
        {"type": "tool_call", "tool_name": "get_document", "arguments": {"docid": 1}, "output": "..."},
        {"type": "tool_call", "tool_name": "search", "arguments": '{"query": "y"}', "output": "no results"},
        {"type": "output_text", "tool_name": None, "arguments": None, "output": "Exact Answer: z"},
    ]}
    assert run_file_stats(run) == ({"1", "2", "7"}, 2, 2)


def test_same_seed_same_metrics(runs: tuple[dict, Path], setup: Setup, tmp_path: Path) -> None:
    result, _ = runs
    again = evaluate_agents({"base": "base"}, setup.world_dir, "test", 7, AgentConfig(), setup.cache, tmp_path,
                            progress=False)
    assert again["models"]["base"] == result["models"]["base"]


def _app() -> typer.Typer:
    app = typer.Typer()
    app.command()(evaluate_command)
    return app


def test_cli_writes_both_files_and_exits_0(setup: Setup, tmp_path: Path) -> None:
    params = tmp_path / "params.yaml"
    params.write_text(f"seed: 7\nretrieval:\n  cache_dir: {setup.cache}\nagent:\n  split: train\n  k: 10\n")
    out, agent_out = tmp_path / "m" / "eval.json", tmp_path / "m" / "agent_eval.json"
    result = CliRunner().invoke(_app(), ["--model", "base=base", "--world", str(setup.world_dir), "--out", str(out),
                                         "--agent-out", str(agent_out), "--params", str(params), "--quiet"])
    assert result.exit_code == 0, result.output
    offline, agents = json.loads(out.read_text()), json.loads(agent_out.read_text())
    assert list(offline["models"]) == ["base"] and offline["split"] == "test"
    assert list(agents["models"]["base"]) == KEYS and agents["seed"] == 7


def test_cli_usage_errors_exit_2(setup: Setup, tmp_path: Path) -> None:
    out = tmp_path / "eval.json"
    common = ["--world", str(setup.world_dir), "--out", str(out), "--params", str(tmp_path / "none.yaml"), "-q"]
    cases = {
        "is not 'base'": ["--model", f"lrat={tmp_path / 'no-such-model'}"],
        "unknown split": ["--split", "nope"],
        "splits.json": ["--world", str(tmp_path)],
        "NAME=SPEC": ["--model", "=base"],
    }
    for message, args in cases.items():
        result = CliRunner().invoke(_app(), [*common, *args])
        assert result.exit_code == 2, (args, result.output)
        assert message in result.output
    assert not out.exists()
    no_state = tmp_path / "bench"
    no_state.mkdir()
    for name in ("corpus.jsonl", "queries.tsv", "qrel_evidence.txt", "splits.json"):
        (no_state / name).write_bytes((setup.world_dir / name).read_bytes())
    result = CliRunner().invoke(_app(), [*common, "--world", str(no_state)])
    assert result.exit_code == 2 and "--no-agent" in result.output


def test_the_oracle_ceiling_row_and_the_gap_each_model_closes(setup: Setup, tmp_path: Path) -> None:
    cfg = AgentConfig(max_searches=6)  # a tight budget, so that the retriever decides success on this small world
    result = evaluate_agents(setup.models, setup.world_dir, "test", 7, cfg, setup.cache, tmp_path,
                             progress=False, oracle=True)
    rows = result["models"]
    assert list(rows) == ["base", "small", "oracle"] and list(rows["oracle"]) == KEYS
    assert rows["oracle"]["evidence_recall"] == 1.0  # the question's evidence is on top of its first search
    assert rows["oracle"]["success"] > rows["base"]["success"]
    assert rows["oracle"]["avg_search_calls"] <= rows["base"]["avg_search_calls"]
    base = rows["base"]["success"]
    share = (rows["small"]["success"] - base) / (rows["oracle"]["success"] - base)
    assert result["ceiling"] == {"model": "oracle", "over": "base", "gap_closed": {"small": round(share, 4)}}
    # the other rows are the runs without the ceiling (same seed, same questions)
    plain = evaluate_agents(setup.models, setup.world_dir, "test", 7, cfg, setup.cache, None, progress=False)
    assert "ceiling" not in plain and {k: rows[k] for k in ("base", "small")} == plain["models"]


def test_cli_adds_the_oracle_row_unless_told_not_to(setup: Setup, tmp_path: Path) -> None:
    params = tmp_path / "params.yaml"
    params.write_text(f"seed: 7\nretrieval:\n  cache_dir: {setup.cache}\n")
    common = ["--model", "base=base", "--world", str(setup.world_dir), "--out", str(tmp_path / "e.json"),
              "--params", str(params), "--quiet"]
    result = CliRunner().invoke(_app(), [*common, "--agent-out", str(tmp_path / "a.json")])
    assert result.exit_code == 0, result.output
    assert list(json.loads((tmp_path / "a.json").read_text())["models"]) == ["base", "oracle"]
    result = CliRunner().invoke(_app(), [*common, "--agent-out", str(tmp_path / "b.json"), "--no-oracle"])
    assert result.exit_code == 0 and list(json.loads((tmp_path / "b.json").read_text())["models"]) == ["base"]
    result = CliRunner().invoke(_app(), [*common, "--agent-out", str(tmp_path / "c.json"), "--model", "oracle=base"])
    assert result.exit_code == 2 and "reserved" in result.output
