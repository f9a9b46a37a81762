"""What the promotion tests share: a small simulated world and three retrievers of increasing quality, built once
per session with one embedding cache (each model encodes the corpus once, whichever test asks first)."""

from __future__ import annotations

from pathlib import Path

import pytest


@pytest.fixture(scope="session")
def assets(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """From worst to best: a random tiny BERT (the stand-in for `train.base_model`), a 2-layer cut of the packaged
    MiniLM (``small``), and the MiniLM itself (`model_path("base")`)."""
    import torch
    from sentence_transformers import SentenceTransformer

    from lrat.retrieval.encoder import model_path
    from lrat.simulate.export import write_world
    from lrat.simulate.store import save_state
    from lrat.simulate.world import generate_world
    from tests.training.tiny import tiny_model

    root = tmp_path_factory.mktemp("lifecycle")
    world = generate_world(5, n_docs=300, n_questions=150)
    write_world(world, root / "world")
    save_state(world, root / "world")
    tiny_model(root / "tiny")
    small = SentenceTransformer(model_path("base"), device="cpu")
    bert = small[0].auto_model
    bert.encoder.layer = torch.nn.ModuleList(list(bert.encoder.layer)[:2])
    bert.config.num_hidden_layers = 2
    small.max_seq_length = 64
    small.save(str(root / "small"))
    return {"world": root / "world", "tiny": root / "tiny", "small": root / "small", "cache": root / "cache"}
