"""`lrat bento`: an index and its model as one BentoML model (encoder, index, documents), and the bento that serves
it. Both are keyed by what they contain, so running the stage again reuses them and a change rebuilds them."""

from __future__ import annotations

import hashlib
import json
import shutil
import sys
from pathlib import Path
from typing import Any

from lrat.io import file_sha256
from lrat.serving.engine import DOCUMENTS, ENCODER_DIR, INDEX_DIR
from lrat.serving.index import DOCIDS_FILE, INDEX_FILE, MANIFEST_FILE, IndexMismatch, check_pairing, read_manifest
from lrat.serving.settings import BENTO_NAME, MODEL_NAME, ServeArgs

SERVICE_MODULE = "lrat.serving.service"  # bentofile.yaml's service: lrat.serving.service:Retriever

KEY_LABEL = "lrat-key"  # label on BentoML models and bentos: a digest of what they were made from
CODE_GLOBS = ("lrat/serving/*.py", "lrat/retrieval/*.py", "lrat/__init__.py", "lrat/_offline.py", "lrat/io.py",
              "lrat/settings/*.py", "lrat/errors.py", "lrat/capture_events.py")


def _digest(*parts: Any) -> str:
    return hashlib.sha256(json.dumps(parts, sort_keys=True, default=str).encode()).hexdigest()[:16]


def code_digest(src: Path) -> str:
    """The service's code as the bento carries it: a change rebuilds the bento."""
    digest = hashlib.sha256()
    for pattern in CODE_GLOBS:
        for path in sorted(src.glob(pattern)):
            digest.update(path.relative_to(src).as_posix().encode())
            digest.update(path.read_bytes())
    return digest.hexdigest()[:16]


def bentofile(root: Path) -> Path:
    """The bento is built from the repository: its bentofile.yaml over src/ (the lrat package)."""
    path = root / "bentofile.yaml"
    if not path.is_file() or not (root / "src" / "lrat").is_dir():
        raise FileNotFoundError(f"{root} has no bentofile.yaml beside src/lrat/: run `lrat bento` and `lrat serve` "
                                "from the lrat repository root")
    return path


def model_key(manifest: dict[str, Any]) -> str:
    return _digest(manifest["model"]["source_key"], manifest["model"]["fingerprint"], manifest["corpus"]["sha256"],
                   manifest["index"]["sha256"], manifest["prompts"])


def bento_key(source_key: str, corpus_sha256: str, index_type: str, index_params: dict[str, Any],
              prompts: dict[str, str], args: ServeArgs, root: Path) -> str:
    """What a bento is made from, computable before anything is built (so `lrat serve` finds a current bento
    without loading a model): the model version or files, its prompts, corpus, index shape, serve arguments,
    code."""
    return _digest(source_key, corpus_sha256, index_type, index_params, prompts,
                   args.model_dump(exclude={"model"}), code_digest(root / "src"), file_sha256(bentofile(root)))


def find_bento(key: str) -> str | None:
    found = _find(_listed("bento", BENTO_NAME), key)
    return None if found is None else str(found.tag)


def _listed(kind: str, name: str) -> list[Any]:
    """The store's models or bentos called ``name``; none yet is an empty list, not BentoML's NotFound."""
    import bentoml
    from bentoml.exceptions import NotFound

    try:
        return bentoml.models.list(name) if kind == "model" else bentoml.bentos.list(name)
    except NotFound:
        return []


def _find(items: list[Any], key: str) -> Any | None:
    for item in sorted(items, key=lambda i: i.creation_time, reverse=True):
        if item.info.labels.get(KEY_LABEL) == key:
            return item
    return None


def bento_models(bento: Any) -> set[str]:
    """Tags of the BentoML models a bento serves (new-style services list them per service)."""
    tags = {str(m.tag) for m in bento.info.models}
    for service in bento.info.services or []:
        tags |= {str(m.tag) for m in service.models}
    return tags


def _model_folder(manifest: dict[str, Any]) -> str:
    """The model the index was built with: its local folder, or the registry version downloaded again."""
    built = manifest["model"]
    if Path(built["path"]).is_dir():
        return str(built["path"])
    if built.get("uri"):
        from lrat.serving.models import resolve_model

        return resolve_model(built["uri"], built["name"]).path
    raise FileNotFoundError(f"the index's model folder {built['path']} is gone and it is not a registry version")


def import_model(index_dir: Path, model: str | None = None, corpus: Path | None = None, label: str | None = None
                 ) -> tuple[str, bool]:
    """The BentoML model for ``index_dir`` (and the model that built it, or ``model`` which must be that one):
    ``(tag, created)``. Raises IndexMismatch when the model or corpus is not the index's own."""
    import bentoml

    from lrat.retrieval.encoder import fingerprint, load_model, model_path

    def check(folder: str, where: str) -> None:
        check_pairing(manifest, fingerprint(load_model(folder)), where, model_path(folder))

    manifest = read_manifest(index_dir)
    if corpus is not None:
        _check_corpus(Path(corpus), manifest, index_dir)
    if model is not None:  # a model named by the user must be the index's own, even when a packaged one exists
        check(model, f"--model {label or model}")
    key = model_key(manifest)
    existing = _find(_listed("model", MODEL_NAME), key)
    if existing is not None:
        return str(existing.tag), False
    folder = model or _model_folder(manifest)
    if model is None:
        check(folder, str(index_dir))
    corpus = Path(corpus or manifest["corpus"]["path"])
    _check_corpus(corpus, manifest, index_dir)
    labels = {KEY_LABEL: key, **_model_labels(manifest["model"])}
    metadata = {"manifest": json.dumps(manifest, sort_keys=True)}  # metadata values must be plain, not None
    with bentoml.models.create(MODEL_NAME, labels=labels, metadata=metadata) as bento_model:
        root = Path(bento_model.path)
        shutil.copytree(folder, root / ENCODER_DIR, ignore=shutil.ignore_patterns(".lrat-complete", "checkpoint-*"))
        (root / INDEX_DIR).mkdir()
        for name in (INDEX_FILE, DOCIDS_FILE, MANIFEST_FILE):
            shutil.copy2(index_dir / name, root / INDEX_DIR / name)
        shutil.copy2(corpus, root / DOCUMENTS)
    return str(bento_model.tag), True


def _check_corpus(corpus: Path, manifest: dict[str, Any], index_dir: Path) -> None:
    if not corpus.is_file() or file_sha256(corpus) != manifest["corpus"]["sha256"]:
        raise IndexMismatch(f"{corpus}: not the corpus {index_dir} was built from (SHA-256 "
                            f"{manifest['corpus']['sha256'][:12]}…): rebuild the index with `lrat index`")


def _model_labels(built: dict[str, Any]) -> dict[str, str]:
    """The registry version on BentoML models and bentos (labels are short: a folder path becomes its last part)."""
    return {"registry-name": Path(built["name"]).name[:60] or "model",
            "registry-version": str(built.get("version") or "none"), "fingerprint": built["fingerprint"]}


def build_bento(model_tag: str, args: ServeArgs, root: Path, manifest: dict[str, Any]) -> tuple[str, bool]:
    """The bento serving ``model_tag`` with ``args``, built from ``bentofile.yaml`` over ``src/`` (so the bento
    carries the lrat package itself): ``(tag, created)``; an identical one is reused."""
    import bentoml

    built, index = manifest["model"], manifest["index"]
    key = bento_key(built["source_key"], manifest["corpus"]["sha256"], index["type"], index["params"],
                    manifest["prompts"], args, root)
    existing = _find(_listed("bento", BENTO_NAME), key)
    if existing is not None and model_tag in bento_models(existing):
        return str(existing.tag), False
    labels = {KEY_LABEL: key, "model": model_tag.replace(":", "-"), **_model_labels(built)}
    args = args.model_copy(update={"model": model_tag})
    # The service module reads its arguments (the model above all) when it is imported, and BentoML imports it only
    # once per process: a second bento built here (the flywheel's next champion) would serve the first one's model.
    sys.modules.pop(SERVICE_MODULE, None)
    bento = bentoml.bentos.build_bentofile(str(bentofile(root)), build_ctx=str(root / "src"),
                                           name=BENTO_NAME, labels=labels, args=args.model_dump())
    return str(bento.tag), True
