"""A small corpus and a tiny model packaged the way `lrat bento` packages a real one, for fast serving tests."""

from __future__ import annotations

import json
import random
import shutil
from pathlib import Path

from lrat.serving.engine import DOCUMENTS, ENCODER_DIR, INDEX_DIR
from lrat.serving.index import build_index
from lrat.serving.models import ModelRef, resolve_model
from lrat.serving.settings import IndexSettings

from ..training.tiny import WORDS, tiny_model

QUERIES = ["island ferry", "museum founder scholar", "the oldest lighthouse on the river", "castle bridge town",
           "which academy built the boat", "harbour records"]


def write_corpus(path: Path, n: int = 80, seed: int = 0) -> Path:
    rng = random.Random(seed)
    with path.open("w", encoding="utf-8") as fh:
        for i in range(n):
            title = f"{rng.choice(WORDS)} {rng.choice(WORDS)} {i}"
            text = " ".join(rng.choice(WORDS) for _ in range(rng.randint(6, 30)))
            record = {"docid": f"d{i:03d}", "text": f"{title}\n{text}"} if i % 10 == 0 else \
                {"docid": f"d{i:03d}", "title": title, "text": f"{title}\n{text}"}
            fh.write(json.dumps(record) + "\n")
    return path


def tiny_ref(tmp: Path, seed: int = 0) -> ModelRef:
    folder = tmp / f"tiny-{seed}"
    if not folder.is_dir():
        tiny_model(folder, seed=seed)
    return resolve_model(str(folder), "lrat-retriever")


def packaged(tmp: Path, ref: ModelRef, corpus: Path, settings: IndexSettings | None = None) -> Path:
    """The folder layout of a BentoML model made by `lrat bento`: encoder/, index/, documents.jsonl."""
    folder = tmp / "packaged"
    build_index(ref, corpus, folder / INDEX_DIR, settings or IndexSettings(), cache_dir=tmp / "cache",
                progress=False)
    shutil.copytree(ref.path, folder / ENCODER_DIR)
    shutil.copy2(corpus, folder / DOCUMENTS)
    return folder
