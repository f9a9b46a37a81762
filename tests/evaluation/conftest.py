"""The world and models both evaluation test modules share (built once per session)."""

from __future__ import annotations

import pytest

from .test_offline import Setup, build_setup


@pytest.fixture(scope="module")
def setup(tmp_path_factory: pytest.TempPathFactory) -> Setup:
    root = tmp_path_factory.getbasetemp() / "evaluation"
    root.mkdir(exist_ok=True)
    return build_setup(root)
