"""Simulated trajectories shared by the mining tests (built once for the package)."""

from __future__ import annotations

from pathlib import Path

import pytest

from lrat.ingest.runner import ingest
from lrat.simulate.agent import AgentConfig
from lrat.simulate.driver import simulate
from lrat.simulate.export import write_world
from lrat.simulate.world import generate_world

from ..simulate.lexical import LexicalRetriever


@pytest.fixture(scope="package")
def sim(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """80 simulated runs, ingested with the world's qrels: (trajectories.jsonl, corpus.jsonl)."""
    root = tmp_path_factory.mktemp("sim")
    world = generate_world(3, n_docs=500, n_questions=80)
    write_world(world, root / "world")
    simulate(world, world.questions, LexicalRetriever(world.docs), AgentConfig(), 1, root / "runs")
    ingest([root / "runs"], root / "ing", corpus=root / "world" / "corpus.jsonl",
           qrels_evidence=root / "world" / "qrel_evidence.txt", progress=False)
    return root / "ing" / "trajectories.jsonl", root / "world" / "corpus.jsonl"
