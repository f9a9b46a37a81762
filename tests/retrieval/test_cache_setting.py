"""params.yaml `retrieval.cache_dir`: every command reads it through one function, with one meaning."""

from __future__ import annotations

from pathlib import Path

from lrat.retrieval.encoder import DEFAULT_CACHE, cache_setting
from lrat.training.ablation import _cache_dir


def test_absent_is_the_default_null_or_empty_is_no_cache_a_value_is_that_folder():
    assert cache_setting({}) == DEFAULT_CACHE
    assert cache_setting({"cache_dir": None}) is None
    assert cache_setting({"cache_dir": ""}) is None
    assert cache_setting({"cache_dir": "/tmp/v"}) == Path("/tmp/v")


def test_the_ablation_always_has_a_cache():
    assert _cache_dir({"cache_dir": None}) == DEFAULT_CACHE
    assert _cache_dir({"cache_dir": "x"}) == Path("x")
