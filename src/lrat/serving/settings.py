"""The `index:` and `serve:` sections of params.yaml, and the arguments a bento is built with.

The service reads its limits through BentoML's bento arguments (``bentoml.use_arguments``), not params.yaml: a
bento runs where params.yaml is not, so the values are copied into the bento when it is built.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

INDEX_TYPES = ("flat", "hnsw", "ivf")
BENTO_NAME = "lrat-retriever-service"
MODEL_NAME = "lrat-retriever"  # the BentoML model that holds encoder, index and documents


def bentoml_home(root: Path | None = None) -> str:
    """Keep BentoML's store in the repository (``.bentoml/``) unless $BENTOML_HOME says otherwise; call before
    bentoml is imported, which reads it once."""
    return os.environ.setdefault("BENTOML_HOME", str((root or Path.cwd()).resolve() / ".bentoml"))


@dataclass(frozen=True)
class IndexSettings:
    type: str = "flat"          # flat (exact) | hnsw | ivf
    hnsw_m: int = 32
    ef_construction: int = 200
    ef_search: int = 128
    ivf_nlist: int | None = None  # None: 4·√n
    nprobe: int = 16
    eval_split: str = "test"    # held-out questions for recall@10 against exact search
    eval_max_queries: int = 500

    def __post_init__(self) -> None:
        if self.type not in INDEX_TYPES:
            raise ValueError(f"index.type {self.type!r}: expected one of {', '.join(INDEX_TYPES)}")
        for name in ("hnsw_m", "ef_construction", "ef_search", "nprobe", "eval_max_queries"):
            if int(getattr(self, name)) < 1:
                raise ValueError(f"index.{name} must be at least 1 (got {getattr(self, name)})")

    def search_params(self) -> dict[str, Any]:
        """What shapes the index (part of its identity): only the keys of its type."""
        if self.type == "hnsw":
            return {"M": self.hnsw_m, "ef_construction": self.ef_construction, "ef_search": self.ef_search}
        if self.type == "ivf":
            return {"nlist": self.ivf_nlist, "nprobe": self.nprobe}
        return {}


def index_settings(section: dict[str, Any]) -> IndexSettings:
    known = IndexSettings.__dataclass_fields__
    unknown = sorted(set(section) - set(known))
    if unknown:
        raise ValueError(f"params.yaml `index:` has unknown keys {unknown} (known: {', '.join(known)})")
    return IndexSettings(**section)


class ServeArgs(BaseModel):
    """The bento's arguments: which BentoML model it serves and the request limits (params.yaml `serve:`)."""

    model_config = ConfigDict(extra="forbid")

    model: str = Field(f"{MODEL_NAME}:latest", description="BentoML model tag (encoder + index + documents)")
    max_k: int = Field(100, ge=1, le=10_000, description="largest k a search may ask for")
    max_query_chars: int = Field(2000, ge=1, description="longest query, in characters")
    max_batch: int = Field(64, ge=1, description="most queries in one /search_batch")
    max_body_bytes: int = Field(1 << 20, ge=1024, description="larger request bodies get 413 unread")
    workers: int = Field(1, ge=1, description="worker processes, each with its own copy of model and index")
    threads: int = Field(0, ge=0, description="torch threads per worker (0: torch's default)")
    batch_max_size: int = Field(32, ge=2, description="adaptive batching: most searches in one encode")
    timeout: int = Field(30, ge=1, description="request timeout, seconds")
    access_log: bool = Field(True, description="one log line per request (BentoML's access log)")


SERVE_KEYS = tuple(k for k in ServeArgs.model_fields if k != "model")


def serve_args(section: dict[str, Any], model_tag: str | None = None) -> ServeArgs:
    """params.yaml `serve:` (limits and server settings; host and port are for `lrat serve`) → bento arguments."""
    unknown = sorted(set(section) - set(SERVE_KEYS) - {"host", "port"})
    if unknown:
        raise ValueError(f"params.yaml `serve:` has unknown keys {unknown} (known: host, port, "
                         f"{', '.join(SERVE_KEYS)})")
    from pydantic import ValidationError

    try:
        tag = {"model": model_tag} if model_tag else {}  # the tag is set when the bento is built
        return ServeArgs(**tag, **{k: v for k, v in section.items() if k in SERVE_KEYS})
    except ValidationError as exc:
        raise ValueError(f"params.yaml `serve:`: {exc}") from None
