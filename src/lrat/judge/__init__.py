"""Stage 2 of LRAT: judge from the post-browse reasoning whether a browsed page helped (method §4).

Backends: ``none`` (keep everything, the naive ablation), ``heuristic`` (the decision rule as a regex, offline
default) and ``openai`` (an LLM behind any OpenAI-compatible endpoint, as in the paper). Judge errors are
verdicts of their own; ``resolve`` maps them by policy instead of silently rejecting the page.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from lrat.judge.base import (
    NOT_RELEVANT,
    POLICIES,
    RELEVANT,
    STAT_KEYS,
    Judge,
    JudgeError,
    Verdict,
    resolve,
)
from lrat.judge.cache import VerdictCache, cache_key
from lrat.judge.openai import OpenAIJudge
from lrat.judge.prompts import OFFICIAL_SAMPLING, PROMPTS, render
from lrat.judge.simple import HeuristicJudge, NoneJudge

BACKENDS = ("none", "heuristic", "openai")

__all__ = [
    "BACKENDS", "NOT_RELEVANT", "OFFICIAL_SAMPLING", "POLICIES", "PROMPTS", "RELEVANT", "STAT_KEYS",
    "HeuristicJudge", "Judge", "JudgeError", "NoneJudge", "OpenAIJudge", "Verdict", "VerdictCache",
    "cache_key", "make_judge", "render", "resolve",
]


def make_judge(backend: str, *, url: str | None = None, model: str | None = None, prompt: str | None = None,
               prompt_version: str = "official-v1", cache_path: Path | None = None,
               api_key_env: str = "OPENAI_API_KEY", concurrency: int = 16, timeout: float = 60.0,
               retries: int = 3, backoff: float = 0.5, sampling: dict[str, Any] | None = None) -> Judge:
    """The judge a config names. Options a backend does not use are ignored (offline judges need none).

    ``model`` None or ``"auto"`` asks the server which model it serves; ``sampling`` is merged into the request
    body as given (``OFFICIAL_SAMPLING`` reproduces the authors' settings; None sends only model and messages).
    """
    if backend == "none":
        return NoneJudge()
    if backend == "heuristic":
        return HeuristicJudge()
    if backend == "openai":
        if not url:
            raise ValueError("the openai judge needs url: an OpenAI-compatible endpoint such as "
                             "http://localhost:8000/v1 (or its /chat/completions route)")
        cache = VerdictCache(cache_path) if cache_path is not None else None
        try:
            return OpenAIJudge(url, model, prompt=prompt, prompt_version=prompt_version, cache=cache,
                               api_key_env=api_key_env, concurrency=concurrency, timeout=timeout, retries=retries,
                               backoff=backoff, sampling=sampling)
        except Exception:
            if cache is not None:
                cache.close()
            raise
    raise ValueError(f"unknown judge backend {backend!r}; choose one of: {', '.join(BACKENDS)}")
