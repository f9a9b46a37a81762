"""Which prompts a model encodes with: its own (sentence-transformers keeps them in the model's config), unless
``retrieval.query_prefix`` / ``doc_prefix`` override them.

A model trained by lrat saves the prompts it was trained with into its own config, so the registered version, the
index built from it and the bento all carry them; packaging refuses an override that disagrees with the model.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, NamedTuple

if TYPE_CHECKING:
    from sentence_transformers import SentenceTransformer

    from lrat.settings import Encoding

DOCUMENT_NAMES = ("document", "passage", "corpus")  # the names encode_document looks for, in its order
CONFIG = "config_sentence_transformers.json"  # where a saved model keeps its prompts


class Prompts(NamedTuple):
    query: str
    document: str

    def as_dict(self) -> dict[str, str]:
        return {"query": self.query, "document": self.document}


def prompts_of(prompts: dict[str, str | None] | None, default_prompt_name: str | None) -> Prompts:
    """The prompts ``encode_query`` / ``encode_document`` apply when given none: the ``query`` prompt, the first of
    ``document`` / ``passage`` / ``corpus``, else the model's default prompt, else none."""
    prompts = dict(prompts or {})
    default = prompts.get(default_prompt_name or "", "") or ""
    query = prompts["query"] if "query" in prompts else default
    document = next((prompts[name] for name in DOCUMENT_NAMES if name in prompts), default)
    return Prompts(query or "", document or "")


def own_prompts(model: SentenceTransformer) -> Prompts:
    return prompts_of(model.prompts, model.default_prompt_name)


def effective_prompts(model: SentenceTransformer, overrides: Encoding) -> Prompts:
    """The model's prompts with ``overrides`` (retrieval.query_prefix / doc_prefix) put over them."""
    own = own_prompts(model)
    return Prompts(own.query if overrides.query is None else overrides.query,
                   own.document if overrides.doc is None else overrides.doc)


def _config(folder: Path | str) -> dict:
    path = Path(folder) / CONFIG
    return json.loads(path.read_text(encoding="utf-8")) if path.is_file() else {}


def folder_prompts(folder: Path | str) -> Prompts:
    """A model folder's prompts without loading the model, as loading would set them: sentence-transformers starts
    from empty ``query`` and ``document`` prompts and fills them from the folder's config."""
    config = _config(folder)
    prompts: dict[str, str | None] = {"query": None, "document": None}
    for name, text in (config.get("prompts") or {}).items():
        if prompts.get(name) is None:
            prompts[name] = text
    return prompts_of({k: v or "" for k, v in prompts.items()}, config.get("default_prompt_name"))


def defined_roles(folder: Path | str) -> set[str]:
    """The roles whose prompt the folder's config states (a model lrat trained states both, even when empty)."""
    config = _config(folder)
    named = set(config.get("prompts") or {})
    if config.get("default_prompt_name"):
        return {"query", "document"}
    return {role for role in ("query", "document") if role in named}


def agreed_prompts(folder: Path | str, overrides: Encoding, what: str) -> Prompts:
    """The prompts to package with the model in ``folder`` (an index, a bento): its own, and an override only for a
    role the model states no prompt for; an override that differs from a stated prompt is an error naming both,
    never a second truth beside the model's config."""
    own, stated = folder_prompts(folder), defined_roles(folder)
    chosen = {}
    for role, key, given in (("query", "query_prefix", overrides.query), ("document", "doc_prefix", overrides.doc)):
        mine = getattr(own, role)
        if given is not None and given != mine and role in stated:
            raise ValueError(f"{what}: retrieval.{key} is {given!r} but the model's own {role} prompt is {mine!r}; "
                             f"an index or a bento is built with the prompts saved in the model (train it with the "
                             f"prompt, or set retrieval.{key}: null)")
        chosen[role] = mine if given is None else given
    return Prompts(**chosen)


def save_prompts(model: SentenceTransformer, prompts: Prompts) -> None:
    """Make ``prompts`` the model's own (written by ``model.save`` into config_sentence_transformers.json)."""
    # "document" comes first among the names encode_document looks for, so it wins over a "passage" kept beside it
    model.prompts = {**(model.prompts or {}), "query": prompts.query, "document": prompts.document}
