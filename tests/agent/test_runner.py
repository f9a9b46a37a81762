"""`lrat agent` against a scripted chat-completions server: tool calls in every shape, reasoning fields, faults,
resume, and run files that ingest with 0 rejects and mine into labels whose positives are the browsed documents."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from lrat.agent.chat import ChatClient
from lrat.agent.loop import RunSettings
from lrat.agent.runner import Question, run_all, run_file
from lrat.agent.tools import ToolBox
from lrat.ingest.runner import ingest
from lrat.mining.options import resolve_options
from lrat.mining.run import mine
from lrat.simulate.export import write_world
from lrat.simulate.world import World, generate_world

from ..simulate.lexical import LexicalRetriever
from .server import Reply, call, chat_server, tool_results


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> tuple[World, Path]:
    folder = tmp_path_factory.mktemp("world")
    w = generate_world(11, n_docs=300, n_questions=40)
    write_world(w, folder)
    return w, folder


@pytest.fixture(scope="module")
def tools(world: tuple[World, Path]) -> ToolBox:
    return ToolBox(LexicalRetriever(world[0].docs), k=5, snippet_tokens=30, document_tokens=200)


def questions(w: World, n: int) -> list[Question]:
    return [Question(q.qid, q.text, q.answer) for q in w.questions[:n]]


def research(answers: dict[str, str]) -> Any:
    """Search; open two results at once (parallel calls); a malformed call and an unknown tool; answer."""

    def script(body: dict[str, Any], n: int) -> Reply:
        question = next(m["content"] for m in body["messages"] if m["role"] == "user")
        if n == 0:
            query = " ".join(question.split()[:6])
            return Reply({"content": None, "reasoning_content": "First, a broad search.",
                          "tool_calls": [call("c1", "search", {"query": query})]})
        if n == 1:
            hits = json.loads(tool_results(body)[-1]["content"])
            return Reply({"content": "<think>Two of these look right; open both.</think>", "tool_calls": [
                call("c2", "get_document", {"docid": hits[0]["docid"]}),
                call("c3", "get_document", {"docid": hits[1]["docid"]})]})
        if n == 2:
            return Reply({"content": None, "reasoning": "The first page helps; the second is unrelated.",
                          "tool_calls": [call("c4", "search", '{"query": "unterminated'),
                                         call("c5", "calculator", {"x": 1})]})
        return Reply({"content": f"<think>Enough.</think>Explanation: found it.\nExact Answer: {answers[question]}\n"
                                 "Confidence: 80%"}, usage={"prompt_tokens": 100, "completion_tokens": 20})

    return script


def test_runs_record_what_the_model_asked_and_ingest_without_rejects(world, tools, tmp_path: Path):
    w, folder = world
    asked = questions(w, 6)
    answers = {q.text: (q.answer if i % 2 == 0 else "somebody else") for i, q in enumerate(asked)}
    with chat_server(research(answers)) as server:
        client = ChatClient(server.url, "scripted", timeout=10, retries=0)
        summary = run_all(asked, client, tools, RunSettings(max_turns=10), tmp_path / "runs", {"model": "scripted"},
                          concurrency=3)
    assert summary["run_files"] == summary["completed"] == 6 and summary["failed"] == 0
    assert summary["accuracy"] == 0.5 and summary["searches_per_question"] == 2 and summary["total_tokens"] == 720
    for q in asked:
        record = json.loads(run_file(tmp_path / "runs", q.qid).read_text())
        kinds = [(i["type"], i["tool_name"]) for i in record["result"]]
        assert kinds == [("reasoning", None), ("tool_call", "search"), ("reasoning", None),
                         ("tool_call", "get_document"), ("tool_call", "get_document"), ("reasoning", None),
                         ("tool_call", "search"), ("tool_call", "calculator"), ("reasoning", None),
                         ("output_text", None)]
        assert record["result"][2]["output"] == [{"text": "Two of these look right; open both.",
                                                  "type": "summary_text"}]
        assert "could not parse" in record["result"][6]["output"] and "unknown tool" in record["result"][7]["output"]
        assert record["tool_call_counts"] == {"search": 2, "get_document": 2, "calculator": 1}
        assert record["grading"]["correct"] == (answers[q.text] == q.answer)
    # each tool result went back with its tool_call_id, in the order the calls were made
    last = [r for r in server.requests if len(tool_results(r)) == 5]
    assert last and all([m["tool_call_id"] for m in tool_results(r)] == ["c1", "c2", "c3", "c4", "c5"] for r in last)

    result = ingest([tmp_path / "runs"], tmp_path / "ing", "auto", folder / "corpus.jsonl", progress=False)
    assert result["rejected"] == 0 and result["trajectories"] == 6 and result["skipped_files"] == 1  # summary.json
    browsed = set()
    for line in (tmp_path / "ing" / "trajectories.jsonl").read_text().splitlines():
        record = json.loads(line)
        run = json.loads(run_file(tmp_path / "runs", record["query_id"]).read_text())
        opened = [json.loads(i["arguments"])["docid"] for i in run["result"] if i["tool_name"] == "get_document"]
        assert [s["docid"] for s in record["steps"] if s["kind"] == "browse"] == opened
        searched = [json.loads(i["arguments"])["query"] if "could not parse" not in i["output"] else None
                    for i in run["result"] if i["tool_name"] == "search"]
        assert [s["query"] for s in record["steps"] if s["kind"] == "search"] == searched
        browsed |= {(record["query_id"], d) for d in opened}
    labels = tmp_path / "labels.jsonl"
    mine(tmp_path / "ing" / "trajectories.jsonl", folder / "corpus.jsonl", labels, resolve_options("lrat", {}, {}),
         progress=False)
    rows = [json.loads(line) for line in labels.read_text().splitlines()]
    assert {(r["query_id"], r["pos_id"]) for r in rows} == browsed


def test_server_errors_and_timeouts_are_retried(world, tools, tmp_path: Path):
    w, _ = world
    asked = questions(w, 1)
    answer = {asked[0].text: asked[0].answer}
    inner = research(answer)

    def flaky(body: dict[str, Any], n: int) -> Reply:
        if n == 0:
            return Reply(status=503)
        if n == 1:
            return Reply(status=429, headers={"Retry-After": "0"})
        if n == 2:
            return Reply({"content": "late"}, delay=1.5)  # beyond the client's timeout
        return inner(body, n - 3)

    with chat_server(flaky) as server:
        client = ChatClient(server.url, "scripted", timeout=0.5, retries=3, backoff=0.01)
        summary = run_all(asked, client, tools, RunSettings(), tmp_path / "runs", {}, concurrency=1)
    assert summary["completed"] == 1 and client.retried == 3


def test_a_question_that_fails_is_counted_and_resumed_later(world, tools, tmp_path: Path):
    w, _ = world
    asked = questions(w, 3)
    answers = {q.text: q.answer for q in asked}
    good = research(answers)
    broken = asked[1].text

    def script(body: dict[str, Any], n: int) -> Reply:
        question = next(m["content"] for m in body["messages"] if m["role"] == "user")
        return Reply(status=500) if question == broken else good(body, n)

    out = tmp_path / "runs"
    with chat_server(script) as server:
        client = ChatClient(server.url, "scripted", timeout=5, retries=1, backoff=0.01)
        summary = run_all(asked, client, tools, RunSettings(), out, {}, concurrency=2)
    assert summary["failed"] == 1 and summary["failures"][0]["query_id"] == asked[1].qid
    assert summary["run_files"] == 2 and not run_file(out, asked[1].qid).exists()
    before = {q.qid: run_file(out, q.qid).read_bytes() for q in (asked[0], asked[2])}
    with chat_server(good) as server:  # the endpoint is back: only the missing question runs
        summary = run_all(asked, ChatClient(server.url, "scripted"), tools, RunSettings(), out, {})
        assert {server.question(r) for r in server.requests} == {broken}
    assert summary["failed"] == 0 and summary["run_files"] == 3 and summary["skipped_existing"] == 2
    assert all(run_file(out, qid).read_bytes() == data for qid, data in before.items())


def test_turn_budget_and_context_limit_end_a_run_as_incomplete(world, tools, tmp_path: Path):
    w, _ = world
    asked = questions(w, 2)

    def script(body: dict[str, Any], n: int) -> Reply:
        question = next(m["content"] for m in body["messages"] if m["role"] == "user")
        if question == asked[1].text and n == 2:
            return Reply(status=400, error="This model's maximum context length is 8192 tokens.")
        return Reply({"content": None, "tool_calls": [call(f"s{n}", "search", {"query": f"try {n}"})]})

    with chat_server(script) as server:
        summary = run_all(asked, ChatClient(server.url, "m"), tools, RunSettings(max_turns=4), tmp_path, {})
    records = [json.loads(run_file(tmp_path, q.qid).read_text()) for q in asked]
    assert [r["status"] for r in records] == ["incomplete", "incomplete"] and summary["completed"] == 0
    assert [r["metadata"]["ended"] for r in records] == ["turn budget", "context limit"]
    assert [r["tool_call_counts"]["search"] for r in records] == [4, 2]


def test_llm_grader_verdict_is_stored_and_the_endpoint_and_key_never_are(world, tools, tmp_path, monkeypatch):
    w, _ = world
    asked = questions(w, 1)
    inner = research({asked[0].text: "a guess"})
    monkeypatch.setenv("LRAT_TEST_KEY", "sk-secret-123")

    def script(body: dict[str, Any], n: int) -> Reply:
        if "[correct_answer]" in body["messages"][0]["content"]:
            return Reply({"content": "extracted_final_answer: a guess\nreasoning: differs\ncorrect: no\n"
                                     "confidence: 80"})
        return inner(body, n)

    with chat_server(script) as server:
        client = ChatClient(server.url, "scripted", api_key_env="LRAT_TEST_KEY")
        run_all(asked, client, tools, RunSettings(), tmp_path, {"model": "scripted"}, grader="llm")
        assert all(h.get("Authorization") == "Bearer sk-secret-123" for h in server.headers)
        port = server.url.split(":")[2].split("/")[0]
    text = run_file(tmp_path, asked[0].qid).read_text() + (tmp_path / "summary.json").read_text()
    grading = json.loads(run_file(tmp_path, asked[0].qid).read_text())["grading"]
    assert grading["grader"] == "llm" and grading["correct"] is False and "correct: no" in grading["verdict"]
    assert "sk-secret-123" not in text and port not in text and "127.0.0.1" not in text
