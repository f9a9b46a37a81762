"""The LLM judge over any OpenAI-compatible ``POST /chat/completions`` endpoint (vLLM, SGLang, a hosted API).

Unlike the official builder, a failed call is never read as NOT_RELEVANT: after the retries it becomes an error
verdict, counted in ``stats()["errors"]`` and mapped by the caller's policy (``resolve``)."""

from __future__ import annotations

import hashlib
import json
import os
import urllib.error
import urllib.request
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from http.client import HTTPException
from types import TracebackType
from typing import Any

from lrat.chat_http import Refused, Retryable, endpoints, post_with_retries
from lrat.judge.base import LABELS, Counters, JudgeError, Verdict
from lrat.judge.cache import VerdictCache, cache_key
from lrat.judge.prompts import PLACEHOLDER, PROMPTS, render


def _clip(value: object, limit: int = 200) -> str:
    text = value.decode("utf-8", "replace") if isinstance(value, bytes) else str(value)
    return repr(text if len(text) <= limit else text[:limit] + "...")


def parse_reply(raw: bytes) -> Verdict:
    """The label in ``choices[0].message.content`` after any thinking, or an ``unparsable reply`` error.

    Everything up to the last ``</think>`` is dropped: Qwen3 thinking templates open the block in the prompt, so
    the reply may carry only its end. What remains must be exactly one label; guessing would bias the data.
    """
    try:
        content = json.loads(raw)["choices"][0]["message"]["content"]
    except (ValueError, KeyError, IndexError, TypeError):
        return Verdict(None, f"unparsable reply: {_clip(raw)}")
    if not isinstance(content, str):
        return Verdict(None, f"unparsable reply: content {content!r}")
    answer = content.rsplit("</think>", 1)[-1].strip()
    if answer in LABELS:
        return Verdict(answer)
    return Verdict(None, f"unparsable reply: {_clip(answer)}")


class OpenAIJudge:
    """Judges texts with bounded concurrency, per-request timeout and retries with exponential backoff.

    Retried: connection errors, timeouts, HTTP 429 and 5xx. Not retried (the answer would not change): other 4xx
    and unparsable replies. Identical texts in one call are sent once; a cache, when given, is consulted first and
    receives the successful verdicts (from the calling thread, after the pool is done). The judge owns the cache
    and closes it in ``close()``.
    """

    name = "openai"

    def __init__(self, url: str, model: str | None = None, *, prompt: str | None = None,
                 prompt_version: str = "official-v1", cache: VerdictCache | None = None,
                 api_key_env: str = "OPENAI_API_KEY", concurrency: int = 16, timeout: float = 60.0,
                 retries: int = 3, backoff: float = 0.5, sampling: dict[str, Any] | None = None) -> None:
        if concurrency < 1 or timeout <= 0 or retries < 0 or backoff < 0:
            raise ValueError("judge needs concurrency >= 1, timeout > 0, retries >= 0 and backoff >= 0")
        if prompt is None:
            if prompt_version not in PROMPTS:
                raise ValueError(f"unknown prompt version {prompt_version!r}; known: {', '.join(PROMPTS)} "
                                 "(or pass the prompt text)")
            prompt = PROMPTS[prompt_version]
        if PLACEHOLDER not in prompt:
            raise ValueError(f"the judge prompt must contain {PLACEHOLDER}, where the reasoning text goes")
        if prompt != PROMPTS.get(prompt_version):
            # A custom text under a known (or reused) version name must not hit that version's cached verdicts.
            prompt_version = f"{prompt_version}+{hashlib.sha256(prompt.encode()).hexdigest()[:12]}"
        sampling = dict(sampling or {})
        if {"model", "messages"} & sampling.keys():
            raise ValueError("sampling must not set 'model' or 'messages'")
        self.base, self.url = endpoints(url)
        self.prompt, self.prompt_version, self.sampling = prompt, prompt_version, sampling
        self._model = None if model in (None, "", "auto") else model
        self.cache, self.concurrency, self.timeout = cache, concurrency, timeout
        self.retries, self.backoff = retries, backoff
        key = os.environ.get(api_key_env, "").strip()
        self._headers = {"Content-Type": "application/json", **({"Authorization": f"Bearer {key}"} if key else {})}
        self._counters = Counters()
        self._pool: ThreadPoolExecutor | None = None

    @property
    def model(self) -> str:
        """The model name; ``None``/``"auto"`` asks the server (``GET /models``), as vLLM serves one model."""
        if self._model is None:
            request = urllib.request.Request(self.base + "/models", headers=self._headers, method="GET")
            try:
                with urllib.request.urlopen(request, timeout=self.timeout) as response:
                    self._model = str(json.loads(response.read())["data"][0]["id"])
            except (OSError, HTTPException, ValueError, KeyError, IndexError, TypeError) as exc:
                raise JudgeError(f"no judge model given and {self.base}/models did not name one: {exc}") from exc
        return self._model

    def judge(self, texts: Sequence[str]) -> list[Verdict]:
        """One verdict per text, in order; blocks until every text has a label or an error."""
        unique = list(dict.fromkeys(texts))
        model = self.model if unique else ""
        keys = {t: cache_key(self.prompt_version, model, t) for t in unique} if self.cache is not None else {}
        known = self.cache.get_many(list(keys.values())) if self.cache is not None else {}
        found = {t: Verdict(known[keys[t]], cached=True) for t in unique if keys.get(t) in known}
        todo = [t for t in unique if t not in found]
        if todo:
            if self._pool is None:
                self._pool = ThreadPoolExecutor(max_workers=self.concurrency, thread_name_prefix="lrat-judge")
            fresh = dict(zip(todo, self._pool.map(lambda t: self._judge_one(model, t), todo), strict=True))
            if self.cache is not None:
                self.cache.put_many((keys[t], v.label) for t, v in fresh.items() if v.label is not None)
            found.update(fresh)
        verdicts = [found[t] for t in texts]
        self._counters.add(verdicts=len(verdicts), cache_hits=sum(v.cached for v in verdicts),
                           errors=sum(v.label is None for v in verdicts))
        return verdicts

    def _judge_one(self, model: str, text: str) -> Verdict:
        body = json.dumps({"model": model, "messages": [{"role": "user", "content": render(self.prompt, text)}],
                           **self.sampling}).encode()
        try:
            raw = post_with_retries(self.url, body, self._headers, self.timeout, self.retries, self.backoff,
                                    on_attempt=lambda: self._counters.add(calls=1),
                                    on_retry=lambda: self._counters.add(retries=1))
        except Retryable as exc:
            return Verdict(None, exc.message)
        except Refused as exc:
            return Verdict(None, str(exc))
        return parse_reply(raw)

    def stats(self) -> dict[str, int]:
        return self._counters.snapshot()

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True)
            self._pool = None
        if self.cache is not None:
            self.cache.close()
            self.cache = None

    def __enter__(self) -> OpenAIJudge:
        return self

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None,
                 trace: TracebackType | None) -> None:
        self.close()
