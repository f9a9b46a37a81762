"""The `lrat agent` command line: usage errors, a real run with the packaged MiniLM (slow), and a killed run that
resumes without redoing or losing a question."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
import typer
from typer.testing import CliRunner

from lrat.agent.command import agent_command
from lrat.ingest.runner import ingest
from lrat.simulate.export import write_world
from lrat.simulate.world import generate_world
from tests.conftest import REPO

from .server import Reply, call, chat_server, tool_results


def _app() -> typer.Typer:
    app = typer.Typer()
    app.command()(agent_command)
    return app


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("world")
    write_world(generate_world(11, n_docs=200, n_questions=20), folder)
    return folder


def answer_after_one_browse(body: dict[str, Any], n: int) -> Reply:
    if n == 0:
        return Reply({"content": None, "reasoning_content": "Search first.",
                      "tool_calls": [call("a", "search", {"query": body["messages"][1]["content"][:60]})]})
    if n == 1:
        docid = json.loads(tool_results(body)[-1]["content"])[0]["docid"]
        return Reply({"content": None, "reasoning_content": "Open the top hit.",
                      "tool_calls": [call("b", "get_document", {"docid": docid})]})
    return Reply({"content": "Explanation: read it [x].\nExact Answer: nobody\nConfidence: 10%",
                  "reasoning_content": "That page was not about it."})


def test_usage_errors_exit_2(world: Path, tmp_path: Path) -> None:
    common = ["--llm-url", "http://127.0.0.1:9/v1", "--llm-model", "m", "--out", str(tmp_path / "runs"),
              "--params", str(tmp_path / "none.yaml"), "--corpus", str(world / "corpus.jsonl"), "-q"]
    bad_params = tmp_path / "bad.yaml"
    bad_params.write_text("agent_runner:\n  tokens: 3\n")
    cases = {
        "no-such.tsv": ["--questions", str(tmp_path / "no-such.tsv")],
        "agent_runner.tokens: unknown key": ["--questions", str(world / "queries.tsv"), "--params", str(bad_params)],
        "not found": ["--questions", str(world / "queries.tsv"), "--corpus", str(tmp_path / "none.jsonl")],
    }
    for message, args in cases.items():
        result = CliRunner().invoke(_app(), [*common, *args])
        assert result.exit_code == 2, (args, result.output)
        assert message in result.output
    assert not (tmp_path / "runs").exists()


@pytest.mark.slow
def test_a_run_with_the_packaged_minilm_ingests_with_fail_on_reject(world: Path, tmp_path: Path) -> None:
    out = tmp_path / "runs"
    prompt = tmp_path / "prompt.txt"
    prompt.write_text("You are a terse researcher. Use the tools.")
    with chat_server(answer_after_one_browse) as server:
        result = CliRunner().invoke(_app(), [
            "--questions", str(world / "ground_truth.jsonl"), "--llm-url", server.url, "--llm-model", "m",
            "--out", str(out), "--retriever", "base", "--corpus", str(world / "corpus.jsonl"), "--limit", "4",
            "--params", str(tmp_path / "none.yaml"), "--system-prompt", str(prompt), "--json", "-q"])
        assert {r["messages"][0]["content"] for r in server.requests} == {prompt.read_text()}
        assert {r["model"] for r in server.requests} == {"m"} and all(len(r["tools"]) == 2 for r in server.requests)
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)
    assert summary == json.loads((out / "summary.json").read_text())
    assert summary["run_files"] == summary["completed"] == 4 and summary["accuracy"] == 0.0
    done = subprocess.run([sys.executable, "-m", "lrat", "ingest", str(out), "--out", str(tmp_path / "ing"),
                           "--corpus", str(world / "corpus.jsonl"), "--fail-on-reject", "--quiet"],
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    records = [json.loads(line) for line in (tmp_path / "ing" / "trajectories.jsonl").read_text().splitlines()]
    for record in records:
        assert [s["kind"] for s in record["steps"]] == ["reasoning", "search", "reasoning", "browse", "reasoning",
                                                        "answer"]
    assert len(records) == 4


@pytest.mark.slow
def test_a_killed_run_resumes_without_losing_or_redoing_questions(world: Path, tmp_path: Path) -> None:
    out = tmp_path / "runs"

    def slow(body: dict[str, Any], n: int) -> Reply:
        reply = answer_after_one_browse(body, n)
        reply.delay = 0.4
        return reply

    with chat_server(slow) as server:
        args = [sys.executable, "-m", "lrat", "agent", "--questions", str(world / "queries.tsv"), "--llm-url",
                server.url, "--llm-model", "m", "--out", str(out), "--corpus", str(world / "corpus.jsonl"),
                "--concurrency", "2", "--params", str(tmp_path / "none.yaml"), "-q"]
        process = subprocess.Popen(args, env={**os.environ}, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        deadline = time.time() + 240
        while len(list(out.glob("run_*.json"))) < 3 and time.time() < deadline and process.poll() is None:
            time.sleep(0.2)
        process.send_signal(signal.SIGKILL)
        _, err = process.communicate(timeout=30)
        first = {p.name: p.read_bytes() for p in out.glob("run_*.json")}
        assert 3 <= len(first) < 20, err.decode()[-2000:]
        assert all(json.loads(data)["status"] == "completed" for data in first.values())  # whole files only
        assert not [p for p in out.iterdir() if not p.name.startswith("run_")]  # no temp files left
        again = subprocess.run(args, capture_output=True, text=True, timeout=600)
    assert again.returncode == 0, again.stderr
    assert len(list(out.glob("run_*.json"))) == 20
    assert all((out / name).read_bytes() == data for name, data in first.items())
    summary = json.loads((out / "summary.json").read_text())
    assert summary["skipped_existing"] == len(first) and summary["run_files"] == 20
    result = ingest([out], tmp_path / "ing", "auto", world / "corpus.jsonl", progress=False)
    assert result["rejected"] == 0 and result["trajectories"] == 20


@pytest.mark.slow
def test_on_the_default_world_with_the_packaged_minilm(tmp_path: Path) -> None:
    """The issue's own check: questions of the embedded default (what `make run` generated), `--retriever base`."""
    world = REPO / "data" / "world"
    if not (world / "ground_truth.jsonl").is_file():
        pytest.skip("no data/world yet: `make run` generates it")
    out = tmp_path / "runs"
    with chat_server(answer_after_one_browse) as server:
        result = CliRunner().invoke(_app(), [
            "--questions", str(world / "queries.tsv"), "--llm-url", server.url, "--llm-model", "m", "--out", str(out),
            "--corpus", str(world / "corpus.jsonl"), "--limit", "5", "--params", str(REPO / "params.yaml"), "-q"])
        opened = [json.loads(m["arguments"])["docid"] for r in server.requests for m in
                  (c["function"] for msg in r["messages"] if msg["role"] == "assistant" for c in msg["tool_calls"])
                  if m["name"] == "get_document"]
    assert result.exit_code == 0, result.output
    done = subprocess.run([sys.executable, "-m", "lrat", "ingest", str(out), "--out", str(tmp_path / "ing"),
                           "--corpus", str(world / "corpus.jsonl"), "--fail-on-reject", "--quiet"],
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    records = [json.loads(line) for line in (tmp_path / "ing" / "trajectories.jsonl").read_text().splitlines()]
    assert len(records) == 5 and {s["docid"] for r in records for s in r["steps"] if s["kind"] == "browse"} == set(
        opened)
