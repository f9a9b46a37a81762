"""A corpus too large for exact search in memory is refused before encoding, with what to do instead."""

from __future__ import annotations

from pathlib import Path

import pytest

from lrat.retrieval.memory import GIB, available_bytes, check_exact_index


def test_a_corpus_that_fits_passes_and_one_that_does_not_says_what_to_set():
    check_exact_index(100_000, 384, Path("c.jsonl"), available=GIB)  # 0.29 GiB for two copies
    with pytest.raises(ValueError) as err:
        check_exact_index(10_000_000, 1024, Path("docs/c.jsonl"), available=8 * GIB)
    message = str(err.value)
    assert "docs/c.jsonl: 10,000,000 documents x 1024 dimensions need about 76.3 GiB" in message
    assert "8.0 GiB is free" in message and "data.corpus" in message


def test_this_machine_reports_its_free_memory():
    free = available_bytes()
    assert free is None or free > 0
