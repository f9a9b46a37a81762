"""From "serve this model" to a bento: reuse a current one, else index (reusing a matching index folder), import
the BentoML model and build. `lrat bento` (the DVC stage) and `lrat serve` share this."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from lrat.benchmark import SPLITS
from lrat.io import file_sha256
from lrat.retrieval.encoder import BASE
from lrat.serving.index import build_index, read_manifest
from lrat.serving.models import ModelRef, resolve_model, served_model
from lrat.serving.settings import IndexSettings, ServeArgs
from lrat.settings import Encoding, Settings


@dataclass(frozen=True)
class Inputs:
    """What a bento is made from, besides the model: corpus, index shape, prompt overrides (checked against the
    model's own), limits; all from params."""

    root: Path
    registry: str
    corpus: Path
    queries: Path | None
    index: IndexSettings
    serve: ServeArgs
    cache_dir: Path | None
    encoding: Encoding = Encoding()
    base_model: str = BASE  # served while the registry has no @champion (train.base_model)
    # processes that encode an uncached corpus (retrieval.workers); never part of any key: the vectors are the
    # same with any number of workers
    workers: int = 1


def inputs_from_settings(settings: Settings, corpus: Path | None = None, queries: Path | None = None,
                         root: Path | None = None) -> Inputs:
    """What `lrat index`, `lrat bento`, `lrat serve` and the flywheel build a bento from: params.yaml's `data:`,
    `index:`, `serve:`, `retrieval:`, `registry.name` and `train.base_model` (``corpus`` / ``queries``: flags over
    `data:`)."""
    from lrat.retrieval.parallel import workers_setting
    from lrat.serving.settings import serve_args

    workers, _ = workers_setting(settings.retrieval)
    return Inputs(
        root=(root or Path.cwd()).resolve(),
        registry=settings.registry.name,
        corpus=Path(corpus or settings.data.corpus),
        queries=queries or (settings.data.queries if settings.data.given("queries") else None),
        index=settings.index,
        serve=serve_args(settings.serve),
        cache_dir=settings.retrieval.cache_dir,
        encoding=settings.retrieval.encoding,
        base_model=settings.train.base_model,
        workers=workers,
    )


def model_prompts(ref: ModelRef, inputs: Inputs) -> dict[str, str]:
    """The prompts of the model ``ref`` names (read from its folder, nothing loaded), checked against the
    overrides in ``retrieval:``: what is packaged follows the model."""
    from lrat.retrieval.prompts import agreed_prompts

    return agreed_prompts(ref.path, inputs.encoding, f"serving {ref.spec}").as_dict()


def matches(manifest: dict[str, Any], ref: ModelRef, corpus_sha256: str, inputs: Inputs) -> bool:
    """An existing index folder is this model's index over this corpus, with this shape and these prompts."""
    return (manifest["model"]["source_key"] == ref.source_key and manifest["corpus"]["sha256"] == corpus_sha256
            and manifest["index"]["type"] == inputs.index.type
            and manifest["index"]["params"] == inputs.index.search_params()
            and manifest.get("prompts") == model_prompts(ref, inputs))


def index_for(ref: ModelRef, inputs: Inputs, reuse: Path | None, progress: bool) -> Path:
    """A current index for ``ref``: ``reuse`` when it matches, else one built under ``.cache/index``."""
    corpus_sha = file_sha256(inputs.corpus)
    if reuse is not None and (reuse / "manifest.json").is_file() and matches(read_manifest(reuse), ref, corpus_sha,
                                                                              inputs):
        return reuse
    digest = hashlib.sha256(f"{ref.source_key}|{corpus_sha}|{inputs.index!r}|{model_prompts(ref, inputs)}".encode())
    out = inputs.root / ".cache" / "index" / digest.hexdigest()[:16]
    if (out / "manifest.json").is_file() and matches(read_manifest(out), ref, corpus_sha, inputs):
        return out
    build_index(ref, inputs.corpus, out, inputs.index, inputs.cache_dir, inputs.queries, inputs.encoding, progress,
                workers=inputs.workers, splits=inputs.root / SPLITS)
    return out


def package(index_dir: Path, inputs: Inputs, model: str | None = None) -> dict[str, Any]:
    """BentoML model + bento for an index folder (with ``model``, which must be the one that built it); the record
    `lrat bento` writes."""
    from lrat.serving.package import build_bento, import_model

    manifest = read_manifest(index_dir)
    folder = resolve_model(model, inputs.registry).path if model else None
    model_tag, model_created = import_model(index_dir, model=folder, label=model)
    bento_tag, bento_created = build_bento(model_tag, inputs.serve, inputs.root, manifest)
    built = manifest["model"]
    return {"bento": bento_tag, "bento_created": bento_created, "bentoml_model": model_tag,
            "bentoml_model_created": model_created,
            "served_model": served_model(built),
            "model_uri": built.get("uri"), "fingerprint": built["fingerprint"],
            "index": {"folder": str(index_dir), "type": manifest["index"]["type"],
                      "recall_at_10_vs_exact": manifest.get("recall_at_10_vs_exact")},
            "corpus_sha256": manifest["corpus"]["sha256"]}


def ensure_bento(spec: str | None, inputs: Inputs, reuse_index: Path | None = None, progress: bool = True
                 ) -> dict[str, Any]:
    """The bento for ``spec`` (default @champion): an existing current one, or built now."""
    from lrat.serving.package import bento_key, find_bento

    ref = resolve_model(spec, inputs.registry, fallback=inputs.base_model)
    key = bento_key(ref.source_key, file_sha256(inputs.corpus), inputs.index.type, inputs.index.search_params(),
                    model_prompts(ref, inputs), inputs.serve, inputs.root)
    found = find_bento(key)
    if found is not None:
        return {"bento": found, "bento_created": False, "served_model": ref.served_as, "model_uri": ref.uri}
    return package(index_for(ref, inputs, reuse_index, progress), inputs)
