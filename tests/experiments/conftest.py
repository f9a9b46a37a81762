"""A small simulated world and the agent's trajectories on its training questions, ingested as the pipeline
ingests them (a lexical retriever drives the agent: no model to load, about two seconds)."""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path

import pytest

from lrat.ingest.runner import ingest
from lrat.simulate.agent import AgentConfig
from lrat.simulate.driver import simulate
from lrat.simulate.export import write_world
from lrat.simulate.store import STATE, save_state
from lrat.simulate.world import generate_world

from ..simulate.lexical import LexicalRetriever


@dataclass(frozen=True)
class Sim:
    world: Path  # a simulated world (simulation.json: the agent can run)
    benchmark: Path  # the same files without simulation.json: what real logs come with
    trajectories: Path
    n_train: int  # training questions, one trajectory each


@pytest.fixture(scope="session")
def sim(tmp_path_factory: pytest.TempPathFactory) -> Sim:
    root = tmp_path_factory.mktemp("experiments-sim")
    world = generate_world(5, n_docs=300, n_questions=120)
    write_world(world, root / "world")
    save_state(world, root / "world")
    train = [q for q in world.questions if q.split == "train"]
    simulate(world, train, LexicalRetriever(world.docs), AgentConfig(), 1, root / "runs")
    ingest([root / "runs"], root / "ingested", corpus=root / "world" / "corpus.jsonl",
           qrels_evidence=root / "world" / "qrel_evidence.txt", progress=False)
    shutil.copytree(root / "world", root / "benchmark")
    (root / "benchmark" / STATE).unlink()
    return Sim(root / "world", root / "benchmark", root / "ingested" / "trajectories.jsonl", len(train))
