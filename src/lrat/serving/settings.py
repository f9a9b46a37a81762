"""The `index:` and `serve:` sections of params.yaml, and the arguments a bento is built with.

The service reads its limits through BentoML's bento arguments (``bentoml.use_arguments``), not params.yaml: a
bento runs where params.yaml is not, so the values are copied into the bento when it is built.
"""

from __future__ import annotations

import os
from pathlib import Path

from pydantic import Field

from lrat.settings import Index, ServeLimits

BENTO_NAME = "lrat-retriever-service"
MODEL_NAME = "lrat-retriever"  # the BentoML model that holds encoder, index and documents


def bentoml_home(root: Path | None = None) -> str:
    """Keep BentoML's store in the repository (``.bentoml/``) unless $BENTOML_HOME says otherwise; call before
    bentoml is imported, which reads it once."""
    return os.environ.setdefault("BENTOML_HOME", str((root or Path.cwd()).resolve() / ".bentoml"))


IndexSettings = Index  # params.yaml `index:` (lrat.settings)


class ServeArgs(ServeLimits):
    """The bento's arguments: which BentoML model it serves and the request limits (params.yaml `serve:`)."""

    model: str = Field(f"{MODEL_NAME}:latest", description="BentoML model tag (encoder + index + documents)")


SERVE_KEYS = tuple(ServeLimits.model_fields)


def serve_args(serve: ServeLimits, model_tag: str | None = None) -> ServeArgs:
    """params.yaml `serve:` (limits and server settings; host and port are for `lrat serve`) → bento arguments;
    the model tag is set when the bento is built."""
    return ServeArgs(**({"model": model_tag} if model_tag else {}), **serve.model_dump(include=set(SERVE_KEYS)))
