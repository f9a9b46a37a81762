"""The service's JSON shapes, the same small protocol `lrat.retrieval.http.HttpRetriever` speaks."""

from __future__ import annotations

from pydantic import BaseModel, Field


class Result(BaseModel):
    docid: str
    score: float
    rank: int = Field(description="1 = best")


class ServedModel(BaseModel):
    name: str = Field(description="registry name (or 'base' / the model folder)")
    version: str = Field(description="registry version (or files-<hash> for a folder)")


class SearchResponse(BaseModel):
    results: list[Result]
    model: ServedModel


class BatchResponse(BaseModel):
    results: list[list[Result]]
    model: ServedModel


class Document(BaseModel):
    docid: str
    title: str
    text: str
