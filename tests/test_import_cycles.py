"""No two lrat modules import each other, imports inside functions included: a cycle hidden by a lazy import still
ties both modules' code together (and both into every DVC stage that needs either)."""

from __future__ import annotations

from .test_dvc_deps import imported_modules, module_files


def _related(a: str, b: str) -> bool:
    """A package and its own submodule: importing ``a.b`` runs ``a/__init__`` by construction."""
    return a.startswith(b + ".") or b.startswith(a + ".")


def test_no_two_modules_import_each_other():
    modules = module_files()
    edges = {name: imported_modules(name, modules) for name in modules}
    mutual = sorted({tuple(sorted((a, b))) for a, targets in edges.items() for b in targets
                     if a != b and not _related(a, b) and a in edges.get(b, set())})
    assert mutual == [], f"modules that import each other: {mutual}"


def test_the_encoder_and_the_worker_pool_depend_one_way():
    modules = module_files()
    assert "lrat.retrieval.parallel" in imported_modules("lrat.retrieval.encoder", modules)
    assert "lrat.retrieval.encoder" not in imported_modules("lrat.retrieval.parallel", modules)
