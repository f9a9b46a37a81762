"""The one call that turns texts into vectors: normalised float32 rows, as every index and cache holds them.

Queries go through ``encode_query`` and documents through ``encode_document``, so a model's own prompts (``query``,
``document`` in its config_sentence_transformers.json) and its query/document routes apply exactly as
sentence-transformers applies them; ``prompt`` overrides the model's prompt for that role.
"""

from __future__ import annotations

from contextlib import nullcontext
from typing import TYPE_CHECKING, Any, Literal

import numpy as np

if TYPE_CHECKING:
    from sentence_transformers import SentenceTransformer

Role = Literal["query", "document"]
PRECISIONS = ("fp32", "fp16", "bf16")


def autocast(model: SentenceTransformer, precision: str) -> Any:
    """fp16/bf16 mixed precision where the model runs on CUDA; elsewhere (CPUs) nothing changes. The weights stay
    as they are, so the model's fingerprint, hence index pairing, does not depend on the precision."""
    if precision not in PRECISIONS:
        raise ValueError(f"precision {precision!r}: expected one of {', '.join(PRECISIONS)}")
    if precision == "fp32" or model.device.type != "cuda":
        return nullcontext()
    import torch

    return torch.autocast("cuda", dtype=torch.float16 if precision == "fp16" else torch.bfloat16)


def precision_tag(model: SentenceTransformer, precision: str, devices: list[str] | None = None) -> str:
    """What a cache key adds for vectors made in reduced precision (nothing for fp32 or CPUs, so their keys stay)."""
    kinds = {d.split(":")[0] for d in devices} if devices else {model.device.type}
    return f"-{precision}" if precision != "fp32" and "cuda" in kinds else ""


def encode(model: SentenceTransformer, texts: list[str], batch_size: int = 64, progress: bool = False, *,
           role: Role = "document", prompt: str | None = None, precision: str = "fp32") -> np.ndarray:
    """``texts`` as ``role``: ``prompt`` None uses the model's own prompt for it (plain ``encode_query`` /
    ``encode_document``); a string (even empty) replaces it."""
    method = model.encode_query if role == "query" else model.encode_document
    with autocast(model, precision):
        vectors = method(texts, prompt=prompt, batch_size=batch_size, normalize_embeddings=True,
                         convert_to_numpy=True, show_progress_bar=progress)
    return np.ascontiguousarray(vectors, dtype=np.float32)
