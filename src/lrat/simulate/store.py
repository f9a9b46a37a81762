"""The world's hidden structure (chains, clues, names), saved beside the benchmark files for the simulated agent.

Real benchmarks do not ship it; only the simulator reads it, to decide which pages an agent recognises.
"""

from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path

from lrat.io import write_json
from lrat.retrieval.local import read_corpus
from lrat.simulate.world import Entity, Question, World

STATE = "simulation.json"


def not_simulated(world: Path) -> str | None:
    """None when ``world`` was written by `lrat simulate world` (the simulated agent can answer its questions),
    else why not: agent-level evaluation is then skipped, never faked."""
    if (Path(world) / STATE).is_file():
        return None
    return f"{world} is not a simulated world ({STATE} missing; real agent logs have no simulator to replay them)"


def save_state(world: World, out: Path) -> None:
    write_json(out / STATE, {"entities": [asdict(e) for e in world.entities],
                             "questions": [asdict(q) for q in world.questions]})


def load_world(folder: Path) -> World:
    path = folder / STATE
    if not path.exists():
        raise FileNotFoundError(f"{path} not found: run `lrat simulate world --out {folder}` first")
    state = json.loads(path.read_text(encoding="utf-8"))
    entities = [Entity(**{**e, "signature": tuple(e["signature"])}) for e in state["entities"]]
    questions = [Question(**q) for q in state["questions"]]
    docids, texts = read_corpus(folder / "corpus.jsonl")
    docs = [{"docid": d, "title": t.split("\n", 1)[0], "text": t} for d, t in zip(docids, texts, strict=True)]
    return World(entities, docs, questions)
