"""Shared test setup: offline switches (as the CLI sets them) and the paths tests read."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import pytest

from lrat._offline import apply_offline_defaults

apply_offline_defaults()
# BentoML reads its home once, at import: tests build models and bentos in a scratch store, never in the
# repository's .bentoml/ (test_lifecycle reads that one through a subprocess).
os.environ["BENTOML_HOME"] = tempfile.mkdtemp(prefix="lrat-test-bentoml-")

REPO = Path(__file__).resolve().parent.parent
SHARED_FIXTURES = REPO.parent / "shared" / "fixtures" / "lrat-official-trajectories"
SAMPLES = REPO / "data" / "samples"


@pytest.fixture
def official_dir() -> Path:
    """The LRAT authors' trajectories beside the checkout; tests that need them skip when they are absent."""
    if not SHARED_FIXTURES.is_dir():
        pytest.skip(f"../shared fixtures not present at {SHARED_FIXTURES} (conformance needs the LRAT trajectories)")
    return SHARED_FIXTURES


@pytest.fixture(autouse=True)
def _no_network_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for key in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE"):
        monkeypatch.setenv(key, os.environ.get(key, "1"))
