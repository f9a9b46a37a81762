"""Conformance: `--preset official` reproduces the rows the authors' builder produced for their own trajectories
(../shared/fixtures/lrat-official-trajectories, README there), with both judges, through the real CLI path."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import pytest

from lrat.ingest.runner import ingest
from lrat.mining.options import resolve_options
from lrat.mining.run import mine

from ..judge.server import ChatServer

FILES = ("1.json", "4.json", "5.json", "6.json", "10.json", "11.json")
KEYS = ["query", "pos", "neg", "pos_id", "neg_id", "reasoning_len", "satisfied", "reweight_rate"]


def _key(row: dict) -> tuple:
    return row["query"], tuple(row["pos_id"]), tuple(row["neg_id"]), row["reasoning_len"], row["satisfied"]


def _compare(got_path: Path, expected_path: Path) -> None:
    got = [json.loads(line) for line in got_path.read_text().splitlines()]
    expected = [json.loads(line) for line in expected_path.read_text().splitlines()]
    assert all(list(row) == KEYS for row in got)
    assert Counter(map(_key, got)) == Counter(map(_key, expected))
    weights = {}
    for row in expected:
        weights.setdefault(_key(row), []).append(row["reweight_rate"])
    for row in got:
        assert any(abs(row["reweight_rate"] - w) < 1e-6 for w in weights[_key(row)])
        assert row["pos"] == [f"Document {row['pos_id'][0]}."] and len(row["neg"]) == len(row["neg_id"])


@pytest.fixture
def normalized(official_dir: Path, tmp_path: Path) -> Path:
    summary = ingest([official_dir / f for f in FILES], tmp_path / "ing", corpus=official_dir / "corpus_stub.jsonl",
                     progress=False)
    assert summary["rejected"] == 0
    return tmp_path / "ing" / "trajectories.jsonl"


def test_official_preset_with_the_always_relevant_judge(official_dir: Path, normalized: Path, tmp_path: Path):
    opts = resolve_options("official", {}, {"judge": "none", "format": "flagembedding"})
    summary = mine(normalized, official_dir / "corpus_stub.jsonl", tmp_path / "rows.jsonl", opts, progress=False)
    assert summary["rows"] == 14 and summary["satisfied_ratio"] == 1.0
    _compare(tmp_path / "rows.jsonl", official_dir / "expected_official_rows_judge_none.jsonl")


def test_official_preset_with_the_authors_prompt_over_chat_completions(official_dir: Path, normalized: Path,
                                                                       tmp_path: Path):
    # the endpoint the fixture was made with: NOT_RELEVANT exactly when the prompt contains "perhaps"
    with ChatServer(marker="perhaps") as server:
        opts = resolve_options("official", {}, {"judge": "openai", "judge_url": server.url, "judge_model": "m",
                                                "format": "flagembedding"})
        summary = mine(normalized, official_dir / "corpus_stub.jsonl", tmp_path / "rows.jsonl", opts, progress=False)
        prompts = [r["body"]["messages"][-1]["content"] for r in server.posts]
        assert prompts and all(p.startswith("You are an LLM judge.") for p in prompts)
    assert summary["rows"] == 15 and summary["judge"]["errors"] == 0
    assert summary["judge"]["calls"] == len(prompts) == len(set(prompts))
    _compare(tmp_path / "rows.jsonl", official_dir / "expected_official_rows_judge_rule.jsonl")
