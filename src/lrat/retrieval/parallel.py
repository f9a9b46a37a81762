"""Encoding a corpus with several processes, bit for bit as one process would.

``SentenceTransformer.encode`` orders its inputs by length (longest first, ``np.argsort`` of minus the length its
``_input_length`` gives; interleaved long/short when the model flattens inputs) and cuts that order into batches of
``batch_size``. Padding, and so every float of the result, depends on which texts share a batch and in what row
order, so a pool that hands each process a slice of the corpus in corpus order (as ``encode(..., pool=...)`` does:
each worker sorts its own slice again, and an unstable sort may swap texts of equal length across a batch border)
makes other batches and other vectors.

Here the parent makes the batches exactly as ``encode`` would (the model's own ordering functions on the same
list), sends each worker runs of whole batches in that order, and each worker encodes its run with ``encode``'s
own batching but with the re-ordering switched off, so it forms the very same batches, rows in the same order.
The parent puts every vector back at its text's position. Workers load an exact copy of the parent's model (its
pickled state, written once to a temporary file), so a model from a folder, ``base`` or an MLflow URI encodes
with the same weights and settings everywhere.

Workers run on the CPU by default, each with ``torch.get_num_threads() // workers`` threads. ``devices`` puts them
on accelerators instead (``cuda:0``, ``cuda:1``, ...; one worker per entry): the same batches, so the vectors of
a one-process run on that kind of device. GPU workers are not exercised by the tests (no GPU here).
"""

from __future__ import annotations

import math
import multiprocessing
import os
import queue
import tempfile
import traceback
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    from sentence_transformers import SentenceTransformer

    from lrat.settings import Retrieval

CHUNKS_PER_WORKER = 4  # runs of batches per worker: the longest batches go first, so the queue balances the load
POLL_SECONDS = 1.0


def check_workers(workers: Any, devices: list[str] | None = None) -> list[str] | None:
    """The device of each worker process, or None for the one-process path (``workers`` 1: this process, the
    model's own device). A bad value is a ValueError that says what is allowed."""
    if isinstance(workers, bool) or not isinstance(workers, int | np.integer) or workers < 1:
        raise ValueError(f"workers must be a whole number >= 1 (got {workers!r}); 1 encodes in this process")
    workers = int(workers)
    if devices is not None:
        devices = [str(d).strip() for d in devices]
        if not devices or any(not d for d in devices):
            raise ValueError(f"devices must name one device per worker, e.g. cuda:0,cuda:1 (got {devices!r})")
        if workers == 1 and len(devices) == 1:
            raise ValueError("devices is for two or more workers; with one worker the corpus is encoded in this "
                             "process, on the model's own device")
        if workers not in (1, len(devices)):
            raise ValueError(f"{workers} workers but {len(devices)} devices ({', '.join(devices)}): give one "
                             "device per worker (repeat a device to run two workers on it)")
        return devices
    return None if workers == 1 else ["cpu"] * workers


def workers_setting(retrieval: Retrieval, workers: int | None = None, devices: str | None = None
                    ) -> tuple[int, list[str] | None]:
    """``(workers, devices)`` for a command: ``--workers`` else params.yaml ``retrieval.workers`` (1 when absent);
    ``--devices cuda:0,cuda:1`` runs one worker per entry (and sets the number of workers when ``--workers`` is
    not given). Checked here, before any model loads."""
    listed = [d.strip() for d in devices.split(",")] if devices is not None else None
    if workers is None and listed is not None:
        workers = len(listed)
    where = "--workers"
    if workers is None:
        workers, where = retrieval.workers, "params.yaml retrieval.workers"
    try:
        check_workers(workers)
    except ValueError as exc:
        raise ValueError(f"{where}: {exc}") from None
    try:
        check_workers(workers, listed)
    except ValueError as exc:
        raise ValueError(f"--devices: {exc}") from None
    return int(workers), listed


def batch_order(model: SentenceTransformer, texts: list[str]) -> np.ndarray:
    """The order ``model.encode`` puts ``texts`` in before cutting batches (read from sentence-transformers 6.x
    ``SentenceTransformer._inference``): the same functions on the same list give the same permutation."""
    for name in ("_input_length", "_can_flatten_inputs", "_interleave_sorted_indices"):
        if not hasattr(model, name):
            raise ValueError(f"encoding with several workers needs sentence-transformers' length-sorted batching "
                             f"({type(model).__name__} has no {name}); use workers=1")
    order = np.argsort([-model._input_length(text) for text in texts])
    if model._can_flatten_inputs():
        order = model._interleave_sorted_indices(order)
    return order


class _GivenOrder:
    """Stands in for ``_input_length`` in a worker: strictly decreasing "lengths" in the order asked, so encode's
    length sort is the identity and its batches are the runs the parent cut, rows in the parent's order."""

    def __init__(self) -> None:
        self._next = 0

    def __call__(self, sample: object) -> int:
        self._next -= 1
        return self._next


def keep_given_order(model: SentenceTransformer) -> SentenceTransformer:
    """Make ``model.encode`` batch its inputs in the order given (this instance only: workers' copies)."""
    model._input_length = _GivenOrder()
    model._can_flatten_inputs = lambda: False  # the parent interleaved already, where the model does
    return model


def _worker(model_file: str, device: str, threads: int, tasks: Any, results: Any, prompt: str | None = None,
            precision: str = "fp32") -> None:
    """One worker process: load the parent's model, then encode runs of whole batches until told to stop."""
    for name in ("OMP_NUM_THREADS", "MKL_NUM_THREADS"):  # this process only; read when torch loads
        os.environ[name] = str(threads)
    try:
        import torch

        torch.set_num_threads(threads)
        from lrat.retrieval.vectors import encode

        model = torch.load(model_file, map_location="cpu", weights_only=False).to(device)
        keep_given_order(model)
    except BaseException:  # noqa: BLE001 - reported to the parent, which raises it
        results.put((-1, f"loading the model on {device} failed:\n{traceback.format_exc()}"))
        return
    while (task := tasks.get()) is not None:
        chunk, texts, batch_size = task
        try:
            results.put((chunk, encode(model, texts, batch_size, role="document", prompt=prompt,
                                       precision=precision)))
        except BaseException:  # noqa: BLE001
            results.put((chunk, f"encoding on {device} failed:\n{traceback.format_exc()}"))
            return


def encode_parallel(model: SentenceTransformer, texts: list[str], devices: list[str], batch_size: int = 64,
                    progress: bool = False, prompt: str | None = None, precision: str = "fp32") -> np.ndarray:
    """``encode(model, texts, batch_size, role="document", prompt=prompt, precision=precision)`` by ``len(devices)``
    worker processes, one per device, each with
    ``torch.get_num_threads() // workers`` threads; the same float32 vectors, bit for bit. Nothing global changes
    in this process (its torch threads, environment and model are left as they are)."""
    import torch

    from lrat.retrieval.vectors import encode

    n_batches = math.ceil(len(texts) / batch_size)
    if n_batches <= 1:  # one batch: nothing to share out
        return encode(model, texts, batch_size, progress, role="document", prompt=prompt, precision=precision)
    order = batch_order(model, texts)
    workers = len(devices)
    per_chunk = max(1, n_batches // (workers * CHUNKS_PER_WORKER))
    bounds = [(start, min(start + per_chunk * batch_size, len(texts)))
              for start in range(0, len(texts), per_chunk * batch_size)]
    threads = max(1, torch.get_num_threads() // workers)
    ctx = multiprocessing.get_context("spawn")  # fork would copy torch's thread pools (and CUDA) half-made
    tasks, results = ctx.Queue(), ctx.Queue()
    processes: list[Any] = []
    bar = None
    finished = False
    with tempfile.TemporaryDirectory(prefix="lrat-encode-") as tmp:
        model_file = str(Path(tmp) / "model.pt")
        torch.save(model, model_file)
        try:
            for device in devices:
                process = ctx.Process(target=_worker, daemon=True,
                                      args=(model_file, device, threads, tasks, results, prompt, precision))
                process.start()
                processes.append(process)
            for chunk, (start, end) in enumerate(bounds):
                tasks.put((chunk, [texts[i] for i in order[start:end]], batch_size))
            for _ in processes:
                tasks.put(None)
            if progress:
                from tqdm import tqdm

                bar = tqdm(total=n_batches, desc=f"Batches ({workers} workers)")
            vectors: np.ndarray | None = None
            done = 0
            while done < len(bounds):
                try:
                    chunk, value = results.get(timeout=POLL_SECONDS)
                except queue.Empty:
                    dead = [p for p in processes if p.exitcode not in (None, 0)]
                    if dead or all(p.exitcode is not None for p in processes):
                        codes = ", ".join(f"pid {p.pid} exit code {p.exitcode}" for p in processes)
                        raise RuntimeError(f"an encoding worker stopped before the corpus was encoded ({codes})"
                                           ) from None
                    continue
                if isinstance(value, str):
                    raise RuntimeError(f"encoding worker: {value}")
                start, end = bounds[chunk]
                if vectors is None:
                    vectors = np.empty((len(texts), value.shape[1]), dtype=value.dtype)
                vectors[order[start:end]] = value
                done += 1
                if bar is not None:
                    bar.update(math.ceil((end - start) / batch_size))
            finished = True
        finally:
            if bar is not None:
                bar.close()
            for process in processes:
                if finished:  # each worker has its stop sign and ends by itself
                    process.join(timeout=30)
                if process.is_alive():
                    process.terminate()
                    process.join()
            tasks.cancel_join_thread()
            tasks.close()
            results.close()
    assert vectors is not None
    return np.ascontiguousarray(vectors)
