"""Training on compact labels: texts joined from the corpus exactly, only the texts needed, nothing else accepted."""

from __future__ import annotations

import hashlib
import json
import random
from pathlib import Path

import pytest

from lrat.mining.compact import CorpusJoin, corpus_texts
from lrat.settings import Train, settings_from
from lrat.training.data import training_rows
from lrat.training.train import train

from .tiny import tiny_model

WORDS = "island ferry harbour town boat mainland museum academy founder scholar records lighthouse".split()


@pytest.fixture
def files(tmp_path: Path) -> dict[str, Path]:
    """A corpus (with a padded docid and a line break in one text) and the same 30 labels as text and compact."""
    rng = random.Random(1)
    docs = {f"d{i}": " ".join(rng.choice(WORDS) for _ in range(10)) + f" {i}" for i in range(40)}
    docs["d3"] += "\u2028second line"
    corpus = tmp_path / "corpus.jsonl"
    corpus.write_text("".join(json.dumps({"docid": f" {d} " if d == "d5" else d, "text": t}) + "\n"
                              for d, t in docs.items()), encoding="utf-8")
    sha = hashlib.sha256(corpus.read_bytes()).hexdigest()
    text, compact = [], []
    for i in range(30):
        ids = rng.sample(sorted(docs), 1 + rng.randint(0, 4))
        row = {"trajectory_id": f"t{i}", "query_id": f"q{i}", "search_ordinal": i % 3, "query": f"query {i}",
               "pos_id": ids[0], "neg_ids": ids[1:], "reasoning_len": 5 + i, "satisfied": i % 5 != 0,
               "weight": 0.5 + (i % 4) / 4}
        text.append({**row, "pos": docs[ids[0]], "negs": [docs[d] for d in ids[1:]]})
        compact.append({**row, "corpus_sha256": sha})
    out = {"corpus": corpus}
    for name, rows in (("text", text), ("compact", compact)):
        out[name] = tmp_path / f"{name}.jsonl"
        out[name].write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return out


def train_config(section: dict):
    return settings_from({"train": section}).train


def test_compact_rows_give_the_text_rows_training_set(files):
    for cfg in (Train(), Train(rows="all", n_negatives=3, weights=False), Train(max_rows=7, seed=2),
                Train(n_negatives=0)):
        assert training_rows(files["compact"], cfg, corpus=files["corpus"]) == training_rows(files["text"], cfg)
    # a text file never reads the corpus (even a path that does not exist)
    assert training_rows(files["text"], Train(), corpus=Path("nowhere.jsonl"))[0]


def test_only_the_needed_texts_are_read(files, monkeypatch: pytest.MonkeyPatch):
    import lrat.mining.compact as compact

    asked: list[set[str]] = []

    def spy(path, wanted=None):
        asked.append(set(wanted))
        return corpus_texts(path, wanted)

    monkeypatch.setattr(compact, "corpus_texts", spy)
    rows, _ = training_rows(files["compact"], Train(n_negatives=1), corpus=files["corpus"])
    kept = [json.loads(line) for line in files["compact"].read_text().splitlines()]
    needed = {d for r in kept if r["satisfied"] and len(r["neg_ids"]) >= 1 for d in [r["pos_id"], r["neg_ids"][0]]}
    assert asked == [needed] and len(needed) < 40


def test_a_missing_corpus_or_a_mixed_file_is_refused(files, tmp_path: Path):
    with pytest.raises(ValueError, match=r"compact.jsonl holds compact labels"):
        training_rows(files["compact"], Train())
    with pytest.raises(FileNotFoundError, match="gone.jsonl"):
        training_rows(files["compact"], Train(), corpus=tmp_path / "gone.jsonl")
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"query": "q", "pos_id": "d1", "corpus_sha256": "x"}\n')
    with pytest.raises(ValueError, match=r"bad.jsonl:1: not an `lrat mine` row"):
        training_rows(bad, Train(), corpus=files["corpus"])
    join = CorpusJoin(bad)
    with pytest.raises(ValueError, match=r"bad.jsonl:3: corpus_sha256 must be a sha256"):
        join.add(3, {"corpus_sha256": "x"}, [])


@pytest.mark.slow
def test_train_joins_compact_labels_with_the_corpus(files, tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    tiny_model(tmp_path / "tiny")
    cfg = train_config({"base_model": str(tmp_path / "tiny"), "batch_size": 4, "max_seq_length": 32,
                        "n_negatives": 1, "epochs": 1, "save_steps": 50, "experiment": "t"})
    summary = train(files["compact"], tmp_path / "m", cfg, progress=False, corpus=files["corpus"])
    text = train(files["text"], tmp_path / "m2", cfg, progress=False)
    assert summary["rows"] == text["rows"] and summary["steps"] == text["steps"] > 0
    assert summary["train_loss"] == pytest.approx(text["train_loss"], rel=1e-4)
