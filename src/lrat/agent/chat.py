"""A chat-completions client for the agent: timeouts, retries with backoff on connection errors, 429 and 5xx
(honouring Retry-After), and errors that say what went wrong without the endpoint or the key."""

from __future__ import annotations

import json
import os
import random
import threading
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from http.client import HTTPException
from typing import Any

from lrat.judge.openai import _retry_after, endpoints

_CONTEXT_WORDS = ("context length", "context_length", "maximum context", "too many tokens", "prompt is too long")


class ChatError(RuntimeError):
    """A request that failed for good: ``kind`` is ``context`` (the conversation no longer fits), ``http``,
    ``timeout``, ``connection`` or ``reply`` (not a chat-completions answer)."""

    def __init__(self, kind: str, detail: str) -> None:
        super().__init__(f"{kind}: {detail}")
        self.kind, self.detail = kind, detail


@dataclass
class Usage:
    """Tokens the server reported, summed over the calls of one run (None: the server reports none)."""

    input_tokens: int | None = None
    output_tokens: int | None = None
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def add(self, usage: Any) -> None:
        if not isinstance(usage, dict):
            return
        with self._lock:
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
        data = json.dumps(body).encode()
        error: ChatError | None = None
        wait = 0.0
        for attempt in range(self.retries + 1):
            if attempt:
                self.retried += 1
                delay = self.backoff * 2 ** (attempt - 1)
                time.sleep(max(wait, random.uniform(delay / 2, delay)))
            self.calls += 1
            try:
                return self._attempt(data)
            except _Retry as retry:
                error, wait = retry.error, retry.wait
        assert error is not None
        raise error

    def _attempt(self, data: bytes) -> dict[str, Any]:
        request = urllib.request.Request(self.url, data=data, headers=self._headers, method="POST")
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as response:
                raw = response.read()
        except urllib.error.HTTPError as exc:
            detail = _body(exc)
            if exc.code == 429 or exc.code >= 500:
                wait = _retry_after(exc.headers.get("Retry-After"))
                raise _Retry(ChatError("http", f"HTTP {exc.code}"), wait) from None
            kind = "context" if any(w in detail.lower() for w in _CONTEXT_WORDS) else "http"
            raise ChatError(kind, f"HTTP {exc.code}" + (f": {detail}" if detail else "")) from None
        except (OSError, HTTPException) as exc:
            timeout = isinstance(exc, TimeoutError) or isinstance(getattr(exc, "reason", None), TimeoutError)
            error = ChatError("timeout", f"no answer within {self.timeout:g} s") if timeout else ChatError(
                "connection", str(getattr(exc, "reason", exc)))
            raise _Retry(error, 0.0) from None
        try:
            reply = json.loads(raw)
            reply["choices"][0]["message"]
        except (ValueError, KeyError, IndexError, TypeError):
            raise ChatError("reply", f"not a chat-completions answer: {raw[:200]!r}") from None
        return reply


class _Retry(Exception):
    def __init__(self, error: ChatError, wait: float) -> None:
        self.error, self.wait = error, wait


def _body(exc: urllib.error.HTTPError) -> str:
    try:
        return exc.read()[:300].decode("utf-8", "replace").strip()
    except (OSError, HTTPException):
        return ""
