"""Shared test setup: offline switches and the paths tests read.

The package no longer sets the Hugging Face offline switches (a program importing lrat may use the Hub); tests must
never touch the network, so they are set here, for this process and every subprocess a test starts (they inherit
os.environ), before anything imports huggingface_hub (which reads them once, at import)."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import pytest

from lrat._offline import HUB_OFFLINE_ENV, apply_offline_defaults

os.environ.update(HUB_OFFLINE_ENV)
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
    """Every test starts offline, even after an earlier one changed the environment."""
    for key, value in HUB_OFFLINE_ENV.items():
        monkeypatch.setenv(key, value)
