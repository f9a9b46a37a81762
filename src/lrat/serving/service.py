"""The lrat retrieval service (BentoML 1.4): the champion's encoder and FAISS index behind HTTP.

    POST /search        {"query": str, "k": int = 10}   -> {"results": [{"docid", "score", "rank"}], "model": {...}}
    POST /search_batch  {"queries": [str], "k": int}     -> {"results": [[...], ...], "model": {...}}
    POST /get_document  {"docid": str}                   -> {"docid", "title", "text"}   (404: unknown docid)

Concurrent /search calls are batched adaptively (lrat.serving.batcher): they share one encode and one FAISS
search, and /metrics shows the batch sizes (lrat_search_batch_size). Limits and the model tag are bento arguments
(``--arg`` / ``args`` in the bento), copied from params.yaml ``serve:`` when `lrat bento` builds it.
"""

from pathlib import Path
from typing import Annotated

import bentoml
from pydantic import Field
from starlette.responses import JSONResponse

from lrat.serving.batcher import Batcher
from lrat.serving.metrics import BATCH_SIZES
from lrat.serving.middleware import BodyLimit
from lrat.serving.schemas import BatchResponse, Document, SearchResponse
from lrat.serving.settings import BENTO_NAME, ServeArgs

ARGS = bentoml.use_arguments(ServeArgs)

Query = Annotated[str, Field(min_length=1, max_length=ARGS.max_query_chars, strict=True,
                             description="the search query", examples=["lighthouse keeper of the northern harbour"])]
TopK = Annotated[int, Field(ge=1, le=ARGS.max_k, strict=True, description="how many results")]
Queries = Annotated[list[Query], Field(max_length=ARGS.max_batch, description="queries searched together")]
DocId = Annotated[str, Field(min_length=1, max_length=512, strict=True, examples=["10001"])]


@bentoml.service(name=BENTO_NAME, workers=ARGS.workers, traffic={"timeout": ARGS.timeout},
                 logging={"access": {"enabled": ARGS.access_log}})
class Retriever:
    bento_model = bentoml.models.BentoModel(ARGS.model)

    def __init__(self) -> None:
        from lrat.serving.engine import SearchEngine

        self.engine = SearchEngine.load(Path(self.bento_model.path), threads=ARGS.threads)
        self.model = self.engine.model_info
        self.batcher = Batcher(self.engine.search_many, ARGS.batch_max_size, BATCH_SIZES.observe)

    @bentoml.api
    async def search(self, query: Query, k: TopK = 10) -> SearchResponse:
        """The top-k documents for one query, with the registry version that ranked them."""
        rows = await self.batcher.submit((query, k))
        return SearchResponse(results=rows, model=self.model)

    @bentoml.api
    def search_batch(self, queries: Queries, k: TopK = 10) -> BatchResponse:
        """The top-k documents for each of several queries (one encode, one FAISS search)."""
        return BatchResponse(results=self.engine.search_many([(q, k) for q in queries]), model=self.model)

    @bentoml.api
    def get_document(self, docid: DocId) -> Document:
        """A document's title and full text; 404 for a docid the corpus does not have."""
        found = self.engine.get_document(docid)
        if found is None:
            return JSONResponse({"error": f"unknown docid {docid!r}"}, status_code=404)  # type: ignore[return-value]
        return Document(**found)


Retriever.add_asgi_middleware(BodyLimit, max_bytes=ARGS.max_body_bytes)
