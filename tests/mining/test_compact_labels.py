"""Compact labels (docids + corpus sha256, texts joined from the corpus): exact, verifiable, refused when the
corpus changed, chosen above `mine.compact_above_mb`, and readable by everything that reads labels."""

from __future__ import annotations

import hashlib
import json
import re
import shutil
from pathlib import Path

import pytest
import typer
import yaml
from typer.testing import CliRunner

from lrat.mining.command import expand_labels_command, mine_command
from lrat.mining.formats import expand_labels
from lrat.mining.options import resolve_options
from lrat.mining.run import mine
from lrat.settings import Train
from lrat.training.data import training_rows
from lrat.validation.gate import validate

from .test_mine import LRAT_KEYS, read

COMPACT_KEYS = (LRAT_KEYS - {"pos", "negs"}) | {"corpus_sha256"}
CONFIGS = [Train(), Train(rows="all", weights=False, n_negatives=3),
           Train(n_negatives=0, max_rows=40, seed=7), Train(rows="all", n_negatives=2, max_rows=25)]


@pytest.fixture(scope="module")
def both(sim, tmp_path_factory: pytest.TempPathFactory) -> dict:
    """The same mining written as text rows and as compact rows."""
    trajectories, corpus = sim
    root = tmp_path_factory.mktemp("compact")
    out = {"corpus": corpus, "qrels": corpus.parent / "qrel_evidence.txt"}
    for fmt in ("lrat", "compact"):
        out[fmt] = root / f"{fmt}.jsonl"
        out[f"{fmt}_summary"] = mine(trajectories, corpus, out[fmt], resolve_options("lrat", {}, {"format": fmt}),
                                     progress=False)
    return out


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_compact_rows_are_text_rows_less_the_texts_and_train_identically(both):
    text_rows, compact_rows = read(both["lrat"]), read(both["compact"])
    assert len(text_rows) == len(compact_rows) > 20
    for t, c in zip(text_rows, compact_rows, strict=True):
        assert set(c) == COMPACT_KEYS and c["corpus_sha256"] == _sha(both["corpus"])  # = sha256sum corpus.jsonl
        assert {k: v for k, v in t.items() if k not in ("pos", "negs")} == {k: v for k, v in c.items()
                                                                             if k != "corpus_sha256"}
    for cfg in CONFIGS:
        assert training_rows(both["compact"], cfg, corpus=both["corpus"]) == training_rows(both["lrat"], cfg)
    summary = both["compact_summary"]
    assert summary["label_format"] == "compact" and summary["label_bytes"] == both["compact"].stat().st_size
    assert summary["text_label_bytes"] == both["lrat"].stat().st_size == both["lrat_summary"]["label_bytes"]
    assert summary["corpus_sha256"] == _sha(both["corpus"])
    assert summary["label_bytes"] * 5 < summary["text_label_bytes"]


def test_compact_labels_expand_to_the_exact_text_files(both, sim, tmp_path: Path):
    expand_labels(both["compact"], both["corpus"], tmp_path / "lrat.jsonl")
    assert (tmp_path / "lrat.jsonl").read_bytes() == both["lrat"].read_bytes()
    fe = tmp_path / "fe_mined.jsonl"
    mine(sim[0], both["corpus"], fe, resolve_options("lrat", {}, {"format": "flagembedding"}), progress=False)
    app = typer.Typer()
    app.command()(expand_labels_command)
    result = CliRunner().invoke(app, ["--labels", str(both["compact"]), "--corpus", str(both["corpus"]),
                                      "--out", str(tmp_path / "fe.jsonl"), "--format", "flagembedding"])
    assert result.exit_code == 0, result.stderr
    assert (tmp_path / "fe.jsonl").read_bytes() == fe.read_bytes()


def test_a_changed_or_missing_corpus_is_refused_with_both_hashes(both, tmp_path: Path):
    changed = tmp_path / "corpus.jsonl"
    lines = both["corpus"].read_text(encoding="utf-8").splitlines(keepends=True)
    record = json.loads(lines[-1])
    record["text"] += " (edited)"
    changed.write_text("".join(lines[:-1]) + json.dumps(record) + "\n", encoding="utf-8")
    expected, actual = _sha(both["corpus"]), _sha(changed)
    with pytest.raises(ValueError) as err:
        training_rows(both["compact"], Train(), corpus=changed)
    message = str(err.value)
    assert str(both["compact"]) in message and expected in message and actual in message and "Re-mine" in message
    with pytest.raises(ValueError, match=r"compact labels .*pass it \(--corpus"):
        training_rows(both["compact"], Train())
    with pytest.raises(ValueError, match=re.escape(actual)):
        validate(both["compact"], corpus=changed)
    with pytest.raises(ValueError, match=re.escape(actual)):
        expand_labels(both["compact"], changed, tmp_path / "x.jsonl")


def test_a_docid_missing_from_the_corpus_names_file_line_and_docid(both, tmp_path: Path):
    rows = read(both["compact"])
    index = next(i for i, r in enumerate(rows) if r["satisfied"] and i >= 2)
    rows[index]["pos_id"] = "no-such-doc"
    edited = tmp_path / "labels.jsonl"
    edited.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    with pytest.raises(ValueError, match=rf"labels.jsonl:{index + 1}: docid 'no-such-doc' is not in "):
        training_rows(edited, Train(), corpus=both["corpus"])
    with pytest.raises(ValueError, match=rf"labels.jsonl:{index + 1}: docid 'no-such-doc'"):
        validate(edited, corpus=both["corpus"])
    rows[index]["corpus_sha256"] = "0" * 64
    edited.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    with pytest.raises(ValueError, match=rf"labels.jsonl:{index + 1}: corpus_sha256 0+ differs from line 1's"):
        training_rows(edited, Train(rows="all"), corpus=both["corpus"])


def test_validation_of_compact_labels_matches_the_text_labels(both):
    text = validate(both["lrat"], qrels_evidence=both["qrels"])
    compact = validate(both["compact"], qrels_evidence=both["qrels"], corpus=both["corpus"])
    assert compact["label_format"] == "compact" and text["label_format"] == "lrat"
    assert compact["expectations"] == text["expectations"] and compact["success"] == text["success"]
    blind = validate(both["compact"], qrels_evidence=both["qrels"])  # no corpus: the positive texts are unknown
    by_name = {e["name"]: e for e in blind["expectations"]}
    skipped = by_name["pos_not_empty"]
    assert skipped["status"] == "skipped" and "corpus" in skipped["details"]["reason"]
    assert [e for e in blind["expectations"] if e["name"] != "pos_not_empty"] == [
        e for e in text["expectations"] if e["name"] != "pos_not_empty"]


def _cli(tmp_path: Path, params: dict, *args: str) -> tuple[int, str, str]:
    app = typer.Typer()
    app.command()(mine_command)
    (tmp_path / "params.yaml").write_text(yaml.safe_dump({"mine": params}))
    result = CliRunner().invoke(app, [*args, "--params", str(tmp_path / "params.yaml")])
    return result.exit_code, result.stdout, result.stderr


def test_the_size_threshold_switches_to_compact_says_so_and_records_it(sim, both, tmp_path: Path):
    trajectories, corpus = sim
    text_mb = both["lrat"].stat().st_size / 1e6
    base = ["--trajectories", str(trajectories), "--corpus", str(corpus), "--out", str(tmp_path / "l.jsonl"),
            "--metrics", str(tmp_path / "m.json"), "--quiet"]
    code, _, err = _cli(tmp_path, {"compact_above_mb": text_mb / 2}, *base)
    metrics = json.loads((tmp_path / "m.json").read_text())
    assert code == 0 and metrics["format"] == "lrat" and metrics["label_format"] == "compact"
    assert metrics["label_bytes"] == (tmp_path / "l.jsonl").stat().st_size
    assert metrics["text_label_bytes"] == both["lrat"].stat().st_size
    assert (tmp_path / "l.jsonl").read_bytes() == both["compact"].read_bytes()
    assert "(compact, " in err and "> mine.compact_above_mb" in err
    for limit in (text_mb * 2, None):  # above the text size, and null (never)
        code, _, err = _cli(tmp_path, {"compact_above_mb": limit}, *base)
        assert code == 0 and json.loads((tmp_path / "m.json").read_text())["label_format"] == "lrat"
        assert (tmp_path / "l.jsonl").read_bytes() == both["lrat"].read_bytes() and "(lrat, " in err
    code, _, err = _cli(tmp_path, {"compact_above_mb": "big"}, *base)
    assert code == 2 and "compact_above_mb" in err


def test_params_and_help_name_the_compact_format():
    params = yaml.safe_load((Path(__file__).resolve().parents[2] / "params.yaml").read_text())["mine"]
    assert resolve_options(None, params, {}).compact_above_mb == params["compact_above_mb"] == 256
    assert resolve_options(None, {"compact_above_mb": None}, {}).compact_above_mb is None
    assert resolve_options(None, {}, {}).compact_above_mb == 256
    assert resolve_options(None, {}, {"format": "compact"}).format == "compact"
    app = typer.Typer()
    app.command()(mine_command)
    help_text = " ".join(CliRunner().invoke(app, ["--help"], terminal_width=200).stdout.replace("│", " ").split())
    assert "compact (lrat rows with docids only and corpus_sha256" in help_text
    assert "mine.compact_above_mb" in help_text


def test_expand_refuses_text_labels(both, tmp_path: Path):
    shutil.copy(both["lrat"], tmp_path / "text.jsonl")
    with pytest.raises(ValueError, match=r"text.jsonl:1: not a compact labels row"):
        expand_labels(tmp_path / "text.jsonl", both["corpus"], tmp_path / "out.jsonl")
