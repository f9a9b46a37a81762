"""The verdict cache: re-runs cost no calls, a new prompt or model never reuses a verdict, errors are retried."""

from __future__ import annotations

import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from lrat.judge import NOT_RELEVANT, RELEVANT, Verdict, VerdictCache, cache_key, make_judge
from tests.judge.server import MARKER, ChatServer

TEXTS = ["The page confirms the year.", f"{MARKER} a page about boats.", "Background only.",
         "The page confirms the year."]
LABELS = [RELEVANT, NOT_RELEVANT, RELEVANT, RELEVANT]


@pytest.fixture
def server() -> Iterator[ChatServer]:
    with ChatServer() as running:
        yield running


def _run(server: ChatServer, path: Path, texts: list[str] = TEXTS, **options: object) -> tuple[list[Verdict], dict]:
    judge = make_judge("openai", url=server.url, cache_path=path, timeout=2.0, backoff=0.0,
                       **{"model": "m", **options})  # type: ignore[arg-type]
    try:
        return judge.judge(texts), judge.stats()
    finally:
        judge.close()


def test_second_run_makes_no_calls(server: ChatServer, tmp_path: Path) -> None:
    path = tmp_path / "sub" / "verdicts.sqlite"
    first, stats = _run(server, path)
    assert [v.label for v in first] == LABELS and not any(v.cached for v in first)
    assert stats["calls"] == 3 and stats["cache_hits"] == 0
    second, stats = _run(server, path)
    assert [v.label for v in second] == LABELS and all(v.cached for v in second)
    assert stats == {"verdicts": 4, "calls": 0, "cache_hits": 4, "errors": 0, "retries": 0}
    assert len(server.posts) == 3


def test_partial_hits_only_send_the_misses(server: ChatServer, tmp_path: Path) -> None:
    path = tmp_path / "v.sqlite"
    _run(server, path, TEXTS[:2])
    verdicts, stats = _run(server, path)
    assert [v.cached for v in verdicts] == [True, True, False, True]
    assert stats["calls"] == 1 and stats["cache_hits"] == 3
    assert server.posts[-1]["body"]["messages"][0]["content"].endswith(TEXTS[2])


CUSTOM = "Custom {{ANALYSIS_TEXT}}"


@pytest.mark.parametrize(("before", "after"), [
    ({}, {"model": "other-model"}),
    ({}, {"prompt": CUSTOM}),
    ({"prompt": CUSTOM, "prompt_version": "mine-v1"}, {"prompt": CUSTOM, "prompt_version": "mine-v2"}),
])
def test_new_prompt_or_model_misses(server: ChatServer, tmp_path: Path, before: dict, after: dict) -> None:
    path = tmp_path / "v.sqlite"
    _run(server, path, **before)
    assert _run(server, path, **before)[1]["calls"] == 0
    _, stats = _run(server, path, **after)
    assert stats["calls"] == 3 and stats["cache_hits"] == 0


def test_custom_text_under_the_official_version_name_misses(server: ChatServer, tmp_path: Path) -> None:
    path = tmp_path / "v.sqlite"
    _run(server, path)
    _, stats = _run(server, path, prompt="Edited {{ANALYSIS_TEXT}}", prompt_version="official-v1")
    assert stats["calls"] == 3


def test_errors_are_not_cached(server: ChatServer, tmp_path: Path) -> None:
    path = tmp_path / "v.sqlite"
    server.status = 500
    verdicts, stats = _run(server, path, retries=0)
    assert all(v.label is None for v in verdicts) and stats["errors"] == 4
    with VerdictCache(path) as cache:
        assert len(cache) == 0
    server.status = None
    verdicts, stats = _run(server, path)
    assert [v.label for v in verdicts] == LABELS and stats["calls"] == 3 and stats["cache_hits"] == 0
    _, stats = _run(server, path)
    assert stats["calls"] == 0


def test_cache_survives_across_processes(tmp_path: Path) -> None:
    path = tmp_path / "v.sqlite"
    key = cache_key("official-v1", "m", "text")
    code = ("import sys; from lrat.judge import VerdictCache; "
            "c = VerdictCache(sys.argv[1]); c.put_many([(sys.argv[2], 'NOT_RELEVANT')]); c.close()")
    subprocess.run([sys.executable, "-c", code, str(path), key], check=True, timeout=60)
    with VerdictCache(path) as cache:
        assert cache.get(key) == NOT_RELEVANT and cache.get("missing") is None


def test_keys_separate_every_field() -> None:
    keys = {cache_key("v1", "m", "t"), cache_key("v2", "m", "t"), cache_key("v1", "m2", "t"),
            cache_key("v1", "m", "t2"), cache_key("v1m", "", "t"), cache_key("v1", "mt", "")}
    assert len(keys) == 6
    assert cache_key("v1", "m", "t") == cache_key("v1", "m", "t")


def test_only_labels_are_stored_and_a_bad_batch_writes_nothing(tmp_path: Path) -> None:
    with VerdictCache(tmp_path / "v.sqlite") as cache:
        with pytest.raises(ValueError, match="successful"):
            cache.put_many([("a", RELEVANT), ("b", None)])  # type: ignore[list-item]
        assert len(cache) == 0
        assert cache.put_many([("a", RELEVANT), ("a", NOT_RELEVANT)]) == 2
        assert cache.get_many(["a", "zz"]) == {"a": NOT_RELEVANT}


def test_many_keys_and_threads(tmp_path: Path) -> None:
    with VerdictCache(tmp_path / "v.sqlite") as cache:
        rows = [(f"k{i}", RELEVANT if i % 3 else NOT_RELEVANT) for i in range(1200)]

        def write(part: int) -> None:
            cache.put_many(rows[part::4])
            cache.get_many([k for k, _ in rows[:50]])

        threads = [threading.Thread(target=write, args=(i,)) for i in range(4)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert cache.get_many([k for k, _ in rows]) == dict(rows)  # > 999 keys: chunked queries
