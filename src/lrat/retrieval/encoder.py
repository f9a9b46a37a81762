"""Loading an embedding model from any of the places users keep one, and encoding a corpus once.

Corpus embeddings are cached on disk under a key made of the model's weights, its settings and the texts, so the
world stage, the agent and evaluation encode a corpus once per model, not once per command. A corpus can be encoded
by several processes (``workers``), with the same vectors and the same cache entry as one process.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from lrat.retrieval import parallel
from lrat.retrieval.specs import BASE, KINDS, ModelNotFound, check_spec, is_mlflow_uri, model_path
from lrat.retrieval.vectors import encode, precision_tag

# specs' and vectors' names are read from here by many modules
__all__ = ["ACCELERATOR_BATCH", "BASE", "CPU_BATCH", "corpus_batch_size", "corpus_embeddings", "encode", "fingerprint",
           "is_mlflow_uri", "load_model", "materialize", "model_path"]

if TYPE_CHECKING:
    from sentence_transformers import SentenceTransformer

# Corpus texts per forward pass. On a CPU a small batch keeps each layer's activations in cache: MiniLM on the
# 2-core project machine encodes the default corpus about 17 % faster with 16 than with 64, to within 1e-7 of the
# same vectors (docs: measurements/benchmarks); accelerators want large batches (retrieval.batch_size sets either).
CPU_BATCH = 16
ACCELERATOR_BATCH = 64


def check_device(device: str) -> str:
    """A CUDA device this torch cannot use is a clear error, not a torch assertion deep inside loading."""
    if device.startswith("cuda"):
        import torch

        if not torch.cuda.is_available():
            raise ValueError(f"retrieval.device is {device!r} but torch sees no CUDA device (a CPU build of torch, "
                             "or no GPU): set retrieval.device: cpu")
    return device


def load_model(spec: str, device: str = "cpu") -> SentenceTransformer:
    """Any model spec (`lrat.retrieval.specs`) as a sentence-transformers model on ``device``."""
    check_device(device)
    if is_mlflow_uri(spec):
        import mlflow.sentence_transformers

        from lrat.tracking import use_store

        use_store()  # the project's store unless $MLFLOW_TRACKING_URI names another
        model = mlflow.sentence_transformers.load_model(spec)
        # a downloaded copy, never a Hub model: a model card written later (trainer checkpoints) must not ask the
        # Hub about its base model
        model.model_card_data.local_files_only = True
        return model if device == "cpu" else model.to(device)
    check_spec(spec, "retriever model")
    path = Path(model_path(spec))
    if not path.is_dir():
        raise ModelNotFound(f"retriever model {spec!r} is not {KINDS}")
    from sentence_transformers import SentenceTransformer

    # local_files_only: a folder (a Hub id is its snapshot folder by now) never needs the Hub, yet without it
    # sentence-transformers asks the Hub about a relative folder name as if it were a model id (for the model card)
    return SentenceTransformer(str(path), device=device, local_files_only=True)


def materialize(spec: str, dst: Path) -> str:
    """An MLflow model URI → a local sentence-transformers folder under ``dst`` (downloaded once, so several
    evaluations of one registered version load it from disk); any other spec is returned as it is."""
    if not is_mlflow_uri(spec):
        return spec
    import mlflow

    from lrat.tracking import use_store

    use_store()
    local = Path(mlflow.artifacts.download_artifacts(artifact_uri=spec, dst_path=str(dst)))
    inner = local / "model.sentence_transformer"  # the sentence_transformers flavor's data folder
    return str(inner if inner.is_dir() else local)


def fingerprint(model: SentenceTransformer) -> str:
    """A content hash of the weights: two folders with the same weights share a cache entry, a retrained one never.
    (The prompts are not weights: cache keys add the prompt they encoded with.)"""
    import torch

    digest = hashlib.sha256()
    for name, tensor in model.state_dict().items():
        digest.update(name.encode())
        digest.update(tensor.detach().cpu().contiguous().reshape(-1).view(torch.uint8).numpy().tobytes())
    digest.update(str(model.max_seq_length).encode())
    return digest.hexdigest()[:16]


def corpus_batch_size(model: SentenceTransformer, devices: list[str] | None = None) -> int:
    """``CPU_BATCH`` where the corpus is encoded on CPUs (the model's device, or every worker's), else
    ``ACCELERATOR_BATCH``."""
    kinds = {d.split(":")[0] for d in devices} if devices else {model.device.type}
    return CPU_BATCH if kinds == {"cpu"} else ACCELERATOR_BATCH


def corpus_embeddings(
    model: SentenceTransformer, texts: list[str], cache_dir: Path | None, prompt: str | None = None,
    batch_size: int | None = None, progress: bool = True, model_key: str | None = None, workers: int = 1,
    devices: list[str] | None = None, precision: str = "fp32",
) -> np.ndarray:
    """The corpus vectors of ``model`` (normalised float32, one row per text), read from ``cache_dir`` when this
    model encoded these texts before, else encoded and stored there, ``batch_size`` texts at a time (default:
    `corpus_batch_size`).

    ``workers`` > 1 encodes with that many processes (`lrat.retrieval.parallel`): the same batches as one process,
    so the same vectors bit for bit, under the same cache key (the key never depends on ``workers``). They run on
    the CPU, each with its share of this process's torch threads, unless ``devices`` names one device per worker
    (e.g. ``["cuda:0", "cuda:1"]``; vectors then match one process on that kind of device).

    Texts are encoded as documents with ``prompt`` (None: the model's own document prompt); the key holds the
    prompt, so the same weights with another prompt never reuse vectors, and the precision where it is not fp32.
    """
    worker_devices = parallel.check_workers(workers, devices)  # a bad value fails even when the vectors are cached
    batch_size = batch_size or corpus_batch_size(model, worker_devices)
    if prompt is None:
        from lrat.retrieval.prompts import own_prompts

        prompt = own_prompts(model).document
    digest = hashlib.sha256(prompt.encode())
    for text in texts:
        digest.update(hashlib.sha256(text.encode()).digest())
    tag = precision_tag(model, precision, worker_devices)
    key = f"{model_key or fingerprint(model)}-{digest.hexdigest()[:16]}{tag}"
    path = cache_dir / f"{key}.npy" if cache_dir is not None else None
    if path is not None and path.exists():
        cached = np.load(path)
        if cached.shape[0] == len(texts):
            return cached
    if worker_devices is None:
        vectors = encode(model, texts, batch_size, progress, role="document", prompt=prompt, precision=precision)
    else:
        vectors = parallel.encode_parallel(model, texts, worker_devices, batch_size, progress, prompt=prompt,
                                           precision=precision)
    if path is not None:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp.npy")
        np.save(tmp, vectors)
        tmp.replace(path)
    return vectors
