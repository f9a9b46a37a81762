"""The openai judge against a real local chat-completions server (no client mocking)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from lrat.judge import (
    NOT_RELEVANT,
    OFFICIAL_SAMPLING,
    POLICIES,
    PROMPTS,
    RELEVANT,
    JudgeError,
    Verdict,
    make_judge,
    render,
    resolve,
)
from lrat.judge.openai import OpenAIJudge, endpoints
from tests.judge.server import MARKER, MODEL, ChatServer

FAST = {"timeout": 2.0, "backoff": 0.0}


@pytest.fixture
def server() -> Iterator[ChatServer]:
    with ChatServer() as running:
        yield running


def _judge(server: ChatServer, **options: object) -> OpenAIJudge:
    judge = make_judge("openai", url=server.url, model=options.pop("model", "judge-model"), **{**FAST, **options})
    assert isinstance(judge, OpenAIJudge)
    return judge


def test_labels_follow_the_server(server: ChatServer) -> None:
    texts = ["The page confirms the year.", f"{MARKER}: a page about boats.", "Background only."]
    with _judge(server) as judge:
        verdicts = judge.judge(texts)
        assert [v.label for v in verdicts] == [RELEVANT, NOT_RELEVANT, RELEVANT]
        assert not any(v.cached or v.error for v in verdicts)
        assert judge.judge([]) == []
        assert judge.stats() == {"verdicts": 3, "calls": 3, "cache_hits": 0, "errors": 0, "retries": 0}


@pytest.mark.parametrize("suffix", ["", "/", "/chat/completions", "/chat/completions/"])
def test_request_is_the_rendered_official_prompt(server: ChatServer, suffix: str) -> None:
    text = "I read the page on Kelmar Island. It adds context."
    judge = make_judge("openai", url=server.url + suffix, model="qwen-judge", sampling=OFFICIAL_SAMPLING, **FAST)
    assert judge.judge([text])[0].label == RELEVANT
    judge.close()
    (request,) = server.posts
    assert request["path"] == "/v1/chat/completions"
    assert request["body"] == {"model": "qwen-judge", "messages": [{"role": "user", "content":
                               render(PROMPTS["official-v1"], text)}], **OFFICIAL_SAMPLING}
    content = request["body"]["messages"][0]["content"]
    assert content.startswith("You are an LLM judge.") and content.endswith("AnalysisText:\n" + text)
    assert request["body"]["chat_template_kwargs"] == {"enable_thinking": True} and request["body"]["stop"] is None


def test_endpoint_forms() -> None:
    assert endpoints("http://h:8000/v1") == ("http://h:8000/v1", "http://h:8000/v1/chat/completions")
    assert endpoints("http://h:8000/v1/chat/completions") == endpoints("http://h:8000/v1/")


def test_no_sampling_sends_only_model_and_messages(server: ChatServer) -> None:
    _judge(server).judge(["x"])
    assert set(server.posts[0]["body"]) == {"model", "messages"}


def test_custom_prompt_is_rendered(server: ChatServer) -> None:
    _judge(server, prompt="Judge: {{ANALYSIS_TEXT}} -- answer").judge(["the text"])
    assert server.posts[0]["body"]["messages"][0]["content"] == "Judge: the text -- answer"


def test_model_auto_asks_the_server(server: ChatServer) -> None:
    judge = _judge(server, model="auto")
    assert judge.judge(["x"])[0].label == RELEVANT
    assert server.posts[0]["body"]["model"] == MODEL
    assert [r["path"] for r in server.requests if r["method"] == "GET"] == ["/v1/models"]


@pytest.mark.parametrize("status", [500, 503, 429])
def test_transient_errors_are_retried(server: ChatServer, status: int) -> None:
    server.failures, server.failure_status = 2, status
    judge = _judge(server, retries=3)
    assert judge.judge([f"{MARKER} page"]) == [Verdict(NOT_RELEVANT)]
    assert judge.stats() == {"verdicts": 1, "calls": 3, "cache_hits": 0, "errors": 0, "retries": 2}


def test_persistent_500_is_an_error_verdict_and_the_policy_decides(server: ChatServer) -> None:
    server.status = 500
    judge = _judge(server, retries=2)
    (verdict,) = judge.judge(["anything"])
    assert verdict == Verdict(None, "HTTP 500")  # never silently NOT_RELEVANT
    assert judge.stats() == {"verdicts": 1, "calls": 3, "cache_hits": 0, "errors": 1, "retries": 2}
    assert len(server.posts) == 3
    assert [resolve(verdict, p) for p in POLICIES[:3]] == [True, False, None]
    with pytest.raises(JudgeError, match="HTTP 500"):
        resolve(verdict, "fail")
    with pytest.raises(ValueError, match="policy"):
        resolve(verdict, "ignore")


def test_policy_is_ignored_for_real_verdicts() -> None:
    for policy in POLICIES:
        assert resolve(Verdict(RELEVANT), policy) is True
        assert resolve(Verdict(NOT_RELEVANT, cached=True), policy) is False


def test_client_errors_are_not_retried(server: ChatServer) -> None:
    server.status = 400
    judge = _judge(server, retries=3)
    (verdict,) = judge.judge(["x"])
    assert verdict.label is None and verdict.error is not None and verdict.error.startswith("HTTP 400")
    assert judge.stats()["calls"] == 1 and judge.stats()["retries"] == 0


def test_timeout() -> None:
    with ChatServer(delay=0.5) as slow:
        judge = make_judge("openai", url=slow.url, model="m", timeout=0.1, retries=1, backoff=0.0)
        assert judge.judge(["x"]) == [Verdict(None, "timeout")]
        assert judge.stats() == {"verdicts": 1, "calls": 2, "cache_hits": 0, "errors": 1, "retries": 1}


def test_connection_refused_is_retried_then_an_error() -> None:
    with ChatServer() as gone:
        url = gone.url
    judge = make_judge("openai", url=url, model="m", retries=2, **FAST)
    (verdict,) = judge.judge(["x"])
    assert verdict.label is None and verdict.error is not None and verdict.error.startswith("connection error")
    assert judge.stats()["calls"] == 3 and judge.stats()["errors"] == 1


@pytest.mark.parametrize(("content", "raw"), [
    ("maybe", None),
    ("RELEVANT.", None),
    ("relevant", None),
    ("RELEVANT NOT_RELEVANT", None),
    ("<think>unfinished reasoning", None),
    (None, b"this is not json"),
    (None, b'{"object": "chat.completion"}'),
    (None, b'{"choices": []}'),
    (None, b'{"choices": [{"message": {"role": "assistant", "content": null}}]}'),
])
def test_garbage_replies_are_errors_not_retried(server: ChatServer, content: str | None, raw: bytes | None) -> None:
    server.content, server.raw = content, raw
    judge = _judge(server, retries=3)
    (verdict,) = judge.judge(["x"])
    assert verdict.label is None and verdict.error is not None and verdict.error.startswith("unparsable reply")
    assert judge.stats() == {"verdicts": 1, "calls": 1, "cache_hits": 0, "errors": 1, "retries": 0}


@pytest.mark.parametrize(("content", "label"), [
    ("<think>It says not relevant? No: NOT_RELEVANT is wrong.</think>\n\nRELEVANT", RELEVANT),
    ("The page is off-topic.\n</think>\n\nNOT_RELEVANT", NOT_RELEVANT),  # template opened <think> itself
    ("  NOT_RELEVANT\n", NOT_RELEVANT),
])
def test_thinking_is_stripped(server: ChatServer, content: str, label: str) -> None:
    server.content = content
    assert _judge(server).judge(["x"]) == [Verdict(label)]


def test_api_key_header(server: ChatServer, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    _judge(server).judge(["a"])
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test")
    _judge(server).judge(["b"])
    monkeypatch.setenv("JUDGE_TOKEN", "tok-2")
    _judge(server, api_key_env="JUDGE_TOKEN").judge(["c"])
    keys = [{k.lower(): v for k, v in r["headers"].items()}.get("authorization") for r in server.posts]
    assert keys == [None, "Bearer sk-test", "Bearer tok-2"]


def test_concurrency_is_bounded() -> None:
    with ChatServer(delay=0.02) as slow:
        judge = make_judge("openai", url=slow.url, model="m", concurrency=4, **FAST)
        verdicts = judge.judge([f"text {i}" for i in range(40)])
        judge.close()
        assert len(verdicts) == 40 and all(v.label == RELEVANT for v in verdicts)
        assert 1 < slow.max_in_flight <= 4


def test_duplicates_are_sent_once_and_order_is_kept(server: ChatServer) -> None:
    judge = _judge(server)
    texts = ["a", f"b {MARKER}", "a", "a", f"b {MARKER}", "c"]
    labels = [RELEVANT, NOT_RELEVANT, RELEVANT, RELEVANT, NOT_RELEVANT, RELEVANT]
    assert [v.label for v in judge.judge(texts)] == labels
    assert len(server.posts) == 3
    assert judge.stats() == {"verdicts": 6, "calls": 3, "cache_hits": 0, "errors": 0, "retries": 0}
    judge.judge(["d"])  # stats accumulate over the judge's life
    assert judge.stats()["verdicts"] == 7 and judge.stats()["calls"] == 4


def test_bad_options_are_refused(server: ChatServer) -> None:
    with pytest.raises(ValueError, match="ANALYSIS_TEXT"):
        _judge(server, prompt="no placeholder")
    with pytest.raises(ValueError, match="prompt version"):
        _judge(server, prompt_version="official-v9")
    with pytest.raises(ValueError, match="sampling"):
        _judge(server, sampling={"model": "x"})
    with pytest.raises(ValueError, match="concurrency"):
        _judge(server, concurrency=0)


def test_official_rule_server_sees_only_the_reasoning_marker(official_dir: Path) -> None:
    """The fixtures' judge_rule rows come from a server answering NOT_RELEVANT when the prompt holds "perhaps":
    that only works if the official prompt itself never says it."""
    assert "perhaps" not in PROMPTS["official-v1"]
    texts = [str(step.get("output", "")) for path in sorted(official_dir.glob("*.json"))
             for step in json.loads(path.read_text())["result"] if step.get("type") == "reasoning"]
    with ChatServer(marker="perhaps") as rule:
        judge = make_judge("openai", url=rule.url, model="auto", **FAST)
        labels = [v.label for v in judge.judge(texts)]
        judge.close()
    assert labels == [NOT_RELEVANT if "perhaps" in t else RELEVANT for t in texts]
    assert NOT_RELEVANT in labels and RELEVANT in labels
