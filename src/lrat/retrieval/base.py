"""The retriever interface every backend implements."""

from __future__ import annotations

from typing import NamedTuple, Protocol


class Hit(NamedTuple):
    docid: str
    score: float


class Retriever(Protocol):
    name: str

    def search(self, query: str, k: int = 10) -> list[Hit]: ...

    def search_batch(self, queries: list[str], k: int = 10) -> list[list[Hit]]: ...

    def get_document(self, docid: str) -> str | None: ...
