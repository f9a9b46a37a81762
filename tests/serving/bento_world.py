"""A world's corpus indexed with the packaged MiniLM and built into a real bento, for tests that serve it with
`bentoml serve`. BentoML reads $BENTOML_HOME once, when it is first imported, so nothing here imports bentoml at
module level."""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tests.conftest import REPO

if TYPE_CHECKING:
    from lrat.serving.settings import ServeArgs


def bentoml_home(folder: Path) -> str:
    """Point BentoML at ``folder`` unless it was imported already (then its store is fixed: use that one; models and
    bentos are keyed by content, so sharing one is harmless)."""
    if "bentoml" not in sys.modules:
        os.environ["BENTOML_HOME"] = str(folder)
        return str(folder)
    from bentoml._internal.configuration.containers import BentoMLContainer

    return str(BentoMLContainer.bentoml_home.get())


def world_bento(world_dir: Path, tmp: Path, serve: ServeArgs | None = None) -> dict[str, Any]:
    """``world_dir/corpus.jsonl`` → exact index with the base MiniLM (``tmp/index``, vectors cached in ``tmp/cache``)
    → BentoML model + bento (a real `bentoml build`); the `package` record."""
    from lrat.serving.bundle import Inputs, package
    from lrat.serving.index import build_index
    from lrat.serving.models import resolve_model
    from lrat.serving.settings import IndexSettings, ServeArgs

    corpus, cache, index = world_dir / "corpus.jsonl", tmp / "cache", tmp / "index"
    build_index(resolve_model("base", "lrat-retriever"), corpus, index, IndexSettings(), cache_dir=cache,
                progress=False)
    inputs = Inputs(root=REPO, registry="lrat-retriever", corpus=corpus, queries=None, index=IndexSettings(),
                    serve=serve or ServeArgs(), cache_dir=cache)
    return package(index, inputs)
