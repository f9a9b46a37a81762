"""Corpus encoding across worker processes (`corpus_embeddings(..., workers=N)`): the same vectors as one process,
bit for bit, in the same cache entry; one worker starts no process; bad settings are clear errors."""

from __future__ import annotations

import copy
import json
import multiprocessing
import random
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml
from typer.testing import CliRunner

from lrat.cli import app
from lrat.retrieval import encoder, parallel
from lrat.retrieval.encoder import corpus_embeddings, encode, load_model
from lrat.retrieval.parallel import batch_order, check_workers, keep_given_order, workers_setting
from lrat.settings import Retrieval, settings_from

from ..serving.helpers import tiny_ref, write_corpus
from ..training.tiny import WORDS

runner = CliRunner()
BATCH = 16  # does not divide the number of texts


def varied_texts(n: int = 301, seed: int = 0) -> list[str]:
    """Short and long texts (some past the tiny model's 64 tokens), many of equal length in characters but not in
    tokens (so sorting ties decide padding), and exact duplicates."""
    rng = random.Random(seed)
    vocab = [*WORDS, "zqx", "kv7", "ab", "ferry2", "x"]
    texts = [" ".join(rng.choice(vocab) for _ in range(rng.choice([1, 2, 3, 5, 8, 13, 21, 34])))
             for _ in range(n)]
    return texts + texts[:12]


@pytest.fixture(scope="module")
def model(tmp_path_factory: pytest.TempPathFactory):
    """The tiny model saved to a folder and loaded from it, as the commands load a model folder."""
    return load_model(tiny_ref(tmp_path_factory.mktemp("tiny")).path)


def in_process_workers(model, texts: list[str], batch_size: int, batches_per_chunk: int) -> np.ndarray:
    """What the pool does, without processes: runs of whole batches in encode's order, each encoded by a copy of
    the model that keeps the order given, then put back at their texts' positions."""
    order = batch_order(model, texts)
    worker = keep_given_order(copy.deepcopy(model))
    step = batch_size * batches_per_chunk
    runs = [order[start:start + step] for start in range(0, len(texts), step)]
    vectors = [encode(worker, [texts[i] for i in run], batch_size) for run in runs]
    out = np.empty((len(texts), vectors[0].shape[1]), np.float32)
    for run, chunk in zip(runs, vectors, strict=True):
        out[run] = chunk
    return out


def test_two_workers_give_the_one_process_vectors_in_the_same_cache_entry(model, tmp_path: Path,
                                                                         monkeypatch: pytest.MonkeyPatch):
    texts = varied_texts()
    threads = torch.get_num_threads()
    one = encode(model, texts, BATCH)  # the one-process path, nothing cached

    two = corpus_embeddings(model, texts, tmp_path / "cache", batch_size=BATCH, progress=False, workers=2)
    assert two.dtype == np.float32 and two.flags.c_contiguous
    assert np.array_equal(one, two)  # bit for bit
    assert not multiprocessing.active_children()  # the pool is gone
    assert torch.get_num_threads() == threads and "_input_length" not in vars(model)  # nothing changed here

    # the entry the 2-worker path wrote is the one the 1-worker path writes and reads: same name, same bytes
    written = sorted((tmp_path / "cache").iterdir())
    assert len(written) == 1
    corpus_embeddings(model, texts, tmp_path / "single", batch_size=BATCH, progress=False)
    assert [p.name for p in (tmp_path / "single").iterdir()] == [written[0].name]
    assert written[0].read_bytes() == (tmp_path / "single" / written[0].name).read_bytes()

    def no_encoding(*args, **kwargs):
        raise AssertionError("the vectors are cached: nothing should be encoded")

    monkeypatch.setattr(encoder, "encode", no_encoding)
    monkeypatch.setattr(parallel, "encode_parallel", no_encoding)
    stamp = written[0].stat().st_mtime_ns
    again = corpus_embeddings(model, texts, tmp_path / "cache", batch_size=BATCH, progress=False, workers=1)
    assert np.array_equal(again, one) and written[0].stat().st_mtime_ns == stamp


@pytest.mark.parametrize(("batch_size", "batches_per_chunk", "interleave"),
                         [(BATCH, 3, False), (7, 4, False), (BATCH, 1, False), (BATCH, 3, True)])
def test_runs_of_whole_batches_make_the_one_process_batches(model, batch_size: int, batches_per_chunk: int,
                                                            interleave: bool):
    texts = varied_texts(seed=batch_size)
    if interleave:  # a model whose encode interleaves long and short texts (flattened inputs)
        model = copy.deepcopy(model)
        model._can_flatten_inputs = lambda: True
    assert np.array_equal(in_process_workers(model, texts, batch_size, batches_per_chunk),
                          encode(model, texts, batch_size))


def test_batches_decide_the_bits(model):
    """Why the pool makes encode's batches: cutting the corpus in order (what a plain pool does) gives other
    batches, other padding and, here, other floats."""
    texts = varied_texts()
    plain = np.concatenate([encode(model, texts[i:i + 50], BATCH) for i in range(0, len(texts), 50)])
    if np.array_equal(plain, encode(model, texts, BATCH)):
        pytest.skip("this CPU's kernels give the same bits whatever the batches")


def test_one_worker_and_one_batch_start_no_process(model, monkeypatch: pytest.MonkeyPatch):
    def no_processes(*args, **kwargs):
        raise AssertionError("no worker process should start")

    monkeypatch.setattr(parallel.multiprocessing, "get_context", no_processes)
    texts = varied_texts(40)
    one = corpus_embeddings(model, texts, None, batch_size=BATCH, progress=False, workers=1)
    assert np.array_equal(one, encode(model, texts, BATCH))
    small = texts[:BATCH]  # one batch: nothing to share out
    assert np.array_equal(corpus_embeddings(model, small, None, batch_size=BATCH, progress=False, workers=2),
                          encode(model, small, BATCH))


@pytest.mark.parametrize("workers", [0, -1, 1.5, "2", True, None])
def test_bad_worker_counts_are_clear_errors(model, workers: object):
    with pytest.raises(ValueError, match=r"workers must be a whole number >= 1"):
        corpus_embeddings(model, ["a b"], None, workers=workers)


def test_devices_name_one_device_per_worker():
    assert check_workers(1) is None and check_workers(3) == ["cpu"] * 3
    assert check_workers(1, ["cuda:0", "cuda:1"]) == ["cuda:0", "cuda:1"]
    assert check_workers(2, ["cuda:0", "cuda:0"]) == ["cuda:0", "cuda:0"]
    with pytest.raises(ValueError, match="one device per worker"):
        check_workers(3, ["cuda:0", "cuda:1"])
    with pytest.raises(ValueError, match="two or more workers"):
        check_workers(1, ["cuda:0"])
    with pytest.raises(ValueError, match="one device per worker"):
        check_workers(2, ["cuda:0", ""])
    assert workers_setting(Retrieval()) == (1, None)
    assert workers_setting(Retrieval(workers=2)) == (2, None)
    assert workers_setting(Retrieval(workers=2), workers=1) == (1, None)
    assert workers_setting(Retrieval(workers=1), devices="cuda:0,cuda:1") == (2, ["cuda:0", "cuda:1"])
    with pytest.raises(ValueError, match=r"retrieval.workers: 0 is not valid: expected a whole number >= 1"):
        settings_from({"retrieval": {"workers": 0}})


def _fake_pool(calls: list[list[str]]):
    """``encode_parallel`` without processes (the batching it relies on is tested above), recording devices."""

    def fake(model, texts, devices, batch_size=64, progress=False, prompt=None, precision="fp32"):
        calls.append(devices)
        return in_process_workers(model, texts, batch_size, 2)

    return fake


def test_lrat_index_takes_workers_from_params_or_option(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    corpus = write_corpus(tmp_path / "corpus.jsonl", n=100)
    folder = tiny_ref(tmp_path).path
    calls: list[list[str]] = []
    monkeypatch.setattr(parallel, "encode_parallel", _fake_pool(calls))
    outs = {}
    for name, workers, option in (("one", 1, []), ("params", 2, []), ("option", 1, ["--workers", "3"])):
        params = tmp_path / f"{name}.yaml"
        params.write_text(yaml.safe_dump({"retrieval": {"cache_dir": None, "workers": workers}}))
        done = runner.invoke(app, ["index", "--model", folder, "--corpus", str(corpus), "--out",
                                   str(tmp_path / name), "--params", str(params), "--quiet", *option])
        assert done.exit_code == 0, done.output
        outs[name] = tmp_path / name
    assert calls == [["cpu", "cpu"], ["cpu"] * 3]
    for name in ("params", "option"):  # the same vectors, so the same index and manifest (less the time)
        assert (outs[name] / "index.faiss").read_bytes() == (outs["one"] / "index.faiss").read_bytes()
        manifest, first = (json.loads((outs[n] / "manifest.json").read_text()) for n in (name, "one"))
        manifest.pop("seconds"), first.pop("seconds")
        assert manifest == first


@pytest.mark.parametrize(("command", "args", "message"), [
    ("index", ["--workers", "0"], "--workers: workers must be a whole number >= 1 (got 0)"),
    ("evaluate", ["--workers", "-2"], "--workers: workers must be a whole number >= 1 (got -2)"),
    ("evaluate", ["--workers", "3", "--devices", "cuda:0,cuda:1"], "one device per worker"),
    ("index", [], "retrieval.workers: 'two' is not valid: expected a whole number >= 1"),
])
def test_bad_workers_on_the_command_line_exit_2(tmp_path: Path, command: str, args: list[str], message: str):
    params = tmp_path / "params.yaml"
    params.write_text(yaml.safe_dump({"retrieval": {"workers": "two" if not args else 1}}))
    done = runner.invoke(app, [command, "--params", str(params), *args])
    assert done.exit_code == 2, done.output
    assert message in done.output and "Traceback" not in done.output


def test_lrat_evaluate_passes_workers_to_the_corpus_encoding(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    from lrat.simulate.export import write_world
    from lrat.simulate.world import generate_world

    write_world(generate_world(3, n_docs=120, n_questions=40), tmp_path / "world")
    folder = tiny_ref(tmp_path).path
    calls: list[list[str]] = []
    monkeypatch.setattr(parallel, "encode_parallel", _fake_pool(calls))
    scores = []
    for name, workers, option in (("params", 2, []), ("option", 2, ["--workers", "1"])):
        params = tmp_path / f"{name}.yaml"
        params.write_text(yaml.safe_dump({"retrieval": {"cache_dir": str(tmp_path / name), "workers": workers}}))
        done = runner.invoke(app, ["evaluate", "--model", f"tiny={folder}", "--world", str(tmp_path / "world"),
                                   "--no-agent", "--params", str(params), "--out", str(tmp_path / f"{name}.json"),
                                   "--quiet", *option])
        assert done.exit_code == 0, done.output
        scores.append(json.loads((tmp_path / f"{name}.json").read_text()))
    assert calls == [["cpu", "cpu"]]  # params said 2; --workers 1 encoded in this process
    assert scores[0] == scores[1]
    entries = [sorted(p.name for p in (tmp_path / name).glob("*.npy")) for name in ("params", "option")]
    assert entries[0] == entries[1] and len(entries[0]) == 1  # the same corpus cache entry either way
