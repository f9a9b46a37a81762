"""A chat-completions client for the agent: timeouts, retries with backoff on connection errors, 429 and 5xx
(honouring Retry-After), and errors that say what went wrong without the endpoint or the key."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from typing import Any

from lrat.chat_http import Refused, Retryable, endpoints, post_with_retries

_CONTEXT_WORDS = ("context length", "context_length", "maximum context", "too many tokens", "prompt is too long")


class ChatError(RuntimeError):
    """A request that failed for good: ``kind`` is ``context`` (the conversation no longer fits), ``http``,
    ``timeout``, ``connection`` or ``reply`` (not a chat-completions answer)."""

    def __init__(self, kind: str, detail: str) -> None:
        super().__init__(f"{kind}: {detail}")
        self.kind, self.detail = kind, detail


@dataclass
class Usage:
    """Tokens the server reported, summed over the calls of one run (None: the server reports none). One run is one
    thread, so no lock."""

    input_tokens: int | None = None
    output_tokens: int | None = None

    def add(self, usage: Any) -> None:
        if not isinstance(usage, dict):
            return
        for mine, theirs in (("input_tokens", "prompt_tokens"), ("output_tokens", "completion_tokens")):
            value = usage.get(theirs)
            if isinstance(value, int):
                setattr(self, mine, (getattr(self, mine) or 0) + value)

    def as_dict(self) -> dict[str, int] | None:
        if self.input_tokens is None and self.output_tokens is None:
            return None
        inp, out = self.input_tokens or 0, self.output_tokens or 0
        return {"input_tokens": inp, "output_tokens": out, "total_tokens": inp + out}


class ChatClient:
    def __init__(self, url: str, model: str, *, api_key_env: str = "OPENAI_API_KEY", timeout: float = 120.0,
                 retries: int = 3, backoff: float = 1.0, sampling: dict[str, Any] | None = None) -> None:
        if timeout <= 0 or retries < 0 or backoff < 0:
            raise ValueError("the agent's LLM client needs timeout > 0, retries >= 0 and backoff >= 0")
        sampling = dict(sampling or {})
        if {"model", "messages", "tools"} & sampling.keys():
            raise ValueError("sampling must not set 'model', 'messages' or 'tools'")
        _, self.url = endpoints(url)
        self.model, self.timeout, self.sampling = model, timeout, sampling
        self.retries, self.backoff = retries, backoff
        key = os.environ.get(api_key_env, "").strip()
        self._headers = {"Content-Type": "application/json", **({"Authorization": f"Bearer {key}"} if key else {})}
        self.calls = self.retried = 0

    def complete(self, messages: list[dict[str, Any]], tools: list[dict[str, Any]] | None = None) -> dict[str, Any]:
        """The parsed response of one chat completion, after retries; ChatError when it cannot be had."""
        body: dict[str, Any] = {"model": self.model, "messages": messages, **self.sampling}
        if tools:
            body["tools"] = tools
        try:
            raw = post_with_retries(self.url, json.dumps(body).encode(), self._headers, self.timeout, self.retries,
                                    self.backoff, on_attempt=self._count_call, on_retry=self._count_retry,
                                    detail_chars=300)
        except Retryable as exc:
            detail = f"no answer within {self.timeout:g} s" if exc.kind == "timeout" else exc.message
            raise ChatError(exc.kind, detail) from None
        except Refused as exc:
            context = any(w in exc.detail.lower() for w in _CONTEXT_WORDS)
            raise ChatError("context" if context else "http", str(exc)) from None
        try:
            reply = json.loads(raw)
            reply["choices"][0]["message"]
        except (ValueError, KeyError, IndexError, TypeError):
            raise ChatError("reply", f"not a chat-completions answer: {raw[:200]!r}") from None
        return reply

    def _count_call(self) -> None:
        self.calls += 1

    def _count_retry(self) -> None:
        self.retried += 1
