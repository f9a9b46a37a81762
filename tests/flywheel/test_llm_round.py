"""A flywheel round with `flywheel.agent: llm`: the questions go to a chat-completions endpoint (a scripted local
server speaking the protocol, the one allowed stand-in) whose agent searches the served champion through
`lrat agent`'s tools; the round's run files are that agent's, and the rest of the round runs on them."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from tests.agent.server import Reply, call, chat_server, tool_results
from tests.flywheel.project import lrat, make_project

pytestmark = pytest.mark.slow


def browse_then_answer(body: dict[str, Any], n: int) -> Reply:
    question = next(m["content"] for m in body["messages"] if m.get("role") == "user")
    if n == 0:
        return Reply({"content": None, "reasoning_content": "Search for the first clue.",
                      "tool_calls": [call("a", "search", {"query": question[:80]})]})
    if n == 1:
        docid = json.loads(tool_results(body)[-1]["content"])[0]["docid"]
        return Reply({"content": None, "reasoning_content": "Open the top hit.",
                      "tool_calls": [call("b", "get_document", {"docid": docid})]})
    return Reply({"content": "Explanation: the page names it [1].\nExact Answer: unknown\nConfidence: 20%",
                  "reasoning_content": "This page is relevant: it describes the place the question asks about, "
                                       "its founding year and the person connected to it, which confirms the "
                                       "first hop of the chain."})


def test_an_llm_round_collects_through_the_service(tmp_path: Path):
    with chat_server(browse_then_answer) as server:
        root = make_project(tmp_path / "llm", agent="llm", llm_url=f"{server.url}/v1", llm_model="scripted-agent",
                            questions_per_round=8)
        done = lrat(root, "flywheel", "--rounds", "1", "--quiet", "--json")
        asked = {server.question(r) for r in server.requests}
    report = json.loads(done.stdout)
    row = report["rounds"][1]
    assert row["questions"] == 8 and row["trajectories"] == 8
    start = json.loads((root / "data/flywheel/.stages/round-01/start.json").read_text())
    runs = sorted((root / "data/flywheel/round-01/runs").glob("run_*.json"))
    assert sorted(p.stem.removeprefix("run_") for p in runs) == sorted(start["questions"])
    first = json.loads(runs[0].read_text())
    assert first["metadata"]["model"] == "scripted-agent" and first["metadata"]["retriever"] == "http service"
    assert len(asked) == 8  # every question of the round, and only those, went to the LLM
    assert row["labels"] >= 8 and row["decision"] in ("promoted", "refused")
