"""Which model an index or a service is for: a registry version (name + number, immutable), or a folder / the
base model (known by a hash of its files). MLflow versions are downloaded once into ``.cache/models``."""

from __future__ import annotations

from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

from lrat.registry.candidates import MODELS_URI
from lrat.retrieval.encoder import materialize
from lrat.retrieval.specs import BASE, KINDS, check_spec, is_mlflow_uri, model_path

CHAMPION_URI = "models:/{name}@champion"
_COMPLETE = ".lrat-complete"


class NoChampion(ValueError):
    """The registry has no @champion yet."""


@dataclass(frozen=True)
class ModelRef:
    spec: str                 # what the user named
    name: str                 # registry name, or "base" / the folder
    version: str | None       # registry version; None outside the registry
    uri: str | None           # pinned MLflow URI (models:/NAME/N), or None
    path: str                 # a local sentence-transformers folder
    source_key: str           # "NAME/N" for a registry version, "files-<md5>" for a folder
    run_id: str | None = None

    @property
    def served_as(self) -> dict[str, str]:
        return served_model(self.as_dict())

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def served_model(model: dict[str, Any]) -> dict[str, str]:
    """What every search answer names, from a ModelRef or a manifest's ``model``: the registry name and version,
    or the folder and its file hash."""
    return {"name": str(model["name"]), "version": str(model.get("version") or model["source_key"])}


def _files_key(folder: Path) -> str:
    from lrat.registry.lineage import dir_md5

    return "files-" + dir_md5(folder).removesuffix(".dir")[:16]


def _download(uri: str, name: str, version: str, run_id: str | None, cache: Path) -> str:
    """The version's sentence-transformers folder, downloaded once (a registry version never changes; the run id
    keeps a new store's "version 1" from reading an old store's download)."""
    dst = cache / name / f"{version}-{(run_id or 'norun')[:12]}"
    marker = dst / _COMPLETE
    if marker.is_file():
        return marker.read_text(encoding="utf-8").strip()
    import shutil

    shutil.rmtree(dst, ignore_errors=True)
    local = materialize(uri, dst)
    marker.write_text(local, encoding="utf-8")
    return local


def resolve_model(spec: str | None, registry_name: str, cache: Path = Path(".cache/models"),
                  fallback: str | None = None) -> ModelRef:
    """``None`` → the registry's @champion (``fallback``, e.g. ``train.base_model``, while there is none, as the
    promotion gate does); ``models:/NAME@ALIAS`` and ``models:/NAME/N`` are pinned to a version; ``base``, Hugging
    Face ids (their cached snapshot) and folders are known by a hash of their files. A missing alias or folder is
    a ValueError saying what to do."""
    if spec is None and fallback is not None:
        try:
            return resolve_model(None, registry_name, cache)
        except NoChampion:
            ref = resolve_model(fallback, registry_name, cache)
            return replace(ref, spec=f"{fallback} (no @champion yet)")
    spec = spec or CHAMPION_URI.format(name=registry_name)
    if match := MODELS_URI.match(spec):
        from lrat.registry.store import Registry

        registry = Registry(match["name"])
        if match["alias"]:
            found = registry.by_alias(match["alias"])
            if found is None:
                if match["alias"] == "champion":
                    raise NoChampion(f"{match['name']} has no @champion (run `lrat promote` first, or name a model "
                                     "with --model)")
                raise ValueError(f"{match['name']} has no @{match['alias']}")
        else:
            found = registry.get(match["version"])
        path = _download(found.uri, found.name, found.version, found.run_id, cache)
        return ModelRef(spec, found.name, found.version, found.uri, path, f"{found.name}/{found.version}",
                        found.run_id)
    if is_mlflow_uri(spec):
        raise ValueError(f"--model {spec!r}: name a registry version (models:/NAME/N or models:/NAME@ALIAS), "
                         "'base', a Hugging Face id or a model folder")
    check_spec(spec, "--model")
    folder = Path(model_path(spec))  # a Hugging Face id: its snapshot in the cache
    if not folder.is_dir():
        raise ValueError(f"--model {spec!r}: not {KINDS}")
    name = BASE if spec == BASE else str(Path(spec))
    return ModelRef(spec, name, None, None, str(folder), _files_key(folder))
