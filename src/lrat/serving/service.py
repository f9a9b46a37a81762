"""The lrat retrieval service (BentoML 1.4): the champion's encoder and FAISS index behind HTTP.

    POST /search        {"query": str, "k": int = 10}   -> {"results": [{"docid", "score", "rank"}], "model": {...}}
    POST /search_batch  {"queries": [str], "k": int}     -> {"results": [[...], ...], "model": {...}}
    POST /get_document  {"docid": str}                   -> {"docid", "title", "text"}   (404: unknown docid)
    POST /finish        {"trajectory_id": str, "answer"?, "success"?, "reasoning"?}  -> {"recorded": bool}

Capture (opt-in, lrat.serving.capture; on when $LRAT_CAPTURE names a folder, as `lrat serve --capture DIR` does):
every call may carry a trajectory id (header X-Trajectory-Id, or a ``trajectory_id`` field), ``reasoning`` (the
caller's reasoning since its previous call: a text or a list of texts) and ``question`` / ``question_id``. Tagged
calls are recorded off the request path; untagged calls are served as always and not recorded.

Concurrent /search calls are batched adaptively (lrat.serving.batcher): they share one encode and one FAISS
search, and /metrics shows the batch sizes (lrat_search_batch_size). Limits and the model tag are bento arguments
(``--arg`` / ``args`` in the bento), copied from params.yaml ``serve:`` when `lrat bento` builds it.
"""

import time
from pathlib import Path
from typing import Annotated, Any

import bentoml
from pydantic import Field
from starlette.responses import JSONResponse

from lrat.serving.batcher import Batcher
from lrat.serving.capture import HEADER, results_of
from lrat.serving.metrics import BATCH_SIZES, count_capture
from lrat.serving.middleware import BodyLimit
from lrat.serving.schemas import BatchResponse, Document, SearchResponse
from lrat.serving.settings import BENTO_NAME, ServeArgs

ARGS = bentoml.use_arguments(ServeArgs)

Query = Annotated[str, Field(min_length=1, max_length=ARGS.max_query_chars, strict=True,
                             description="the search query", examples=["lighthouse keeper of the northern harbour"])]
TopK = Annotated[int, Field(ge=1, le=ARGS.max_k, strict=True, description="how many results")]
Queries = Annotated[list[Query], Field(max_length=ARGS.max_batch, description="queries searched together")]
DocId = Annotated[str, Field(min_length=1, max_length=512, strict=True, examples=["10001"])]
TrajectoryId = Annotated[str | None, Field(min_length=1, max_length=256, description="the caller's trajectory "
                                           "(or header X-Trajectory-Id): tagged calls are recorded when capture "
                                           "is on")]
Reasoning = Annotated[str | list[str] | None, Field(description="the caller's reasoning since its previous call")]
QuestionText = Annotated[str | None, Field(max_length=20_000, description="the question the trajectory answers")]
QuestionId = Annotated[str | int | None, Field(description="the question's id (kept once per trajectory)")]


def _tag(ctx: bentoml.Context, field: str | None) -> str | None:
    return field or ctx.request.headers.get(HEADER) or None


def _error(ctx: bentoml.Context, status: int, message: str) -> Any:
    """An error answer: with a context parameter, BentoML takes the status from ``ctx.response``."""
    ctx.response.status_code = status
    return JSONResponse({"error": message}, status_code=status)


@bentoml.service(name=BENTO_NAME, workers=ARGS.workers, traffic={"timeout": ARGS.timeout},
                 logging={"access": {"enabled": ARGS.access_log}})
class Retriever:
    bento_model = bentoml.models.BentoModel(ARGS.model)

    def __init__(self) -> None:
        from lrat.serving.engine import SearchEngine

        self.engine = SearchEngine.load(Path(self.bento_model.path), threads=ARGS.threads)
        self.model = self.engine.model_info
        self.batcher = Batcher(self.engine.search_many, ARGS.batch_max_size, BATCH_SIZES.observe)
        from lrat.serving.capture import Recorder

        self.capture = Recorder.from_env(self.model, count_capture)

    def _record(self, call: str, tid: str | None, arrived: float, reasoning: Any, question: Any, question_id: Any,
                **fields: Any) -> bool:
        if self.capture is None or tid is None:
            return False
        return self.capture.record(call, tid, arrived, reasoning, question, question_id, **fields)

    @bentoml.api
    async def search(self, query: Query, ctx: bentoml.Context, k: TopK = 10, trajectory_id: TrajectoryId = None,
                     reasoning: Reasoning = None, question: QuestionText = None,
                     question_id: QuestionId = None) -> SearchResponse:
        """The top-k documents for one query, with the registry version that ranked them."""
        arrived = time.time()
        rows = await self.batcher.submit((query, k))
        self._record("search", _tag(ctx, trajectory_id), arrived, reasoning, question, question_id, query=query, k=k,
                     results=results_of(rows))
        return SearchResponse(results=rows, model=self.model)

    @bentoml.api
    def search_batch(self, queries: Queries, ctx: bentoml.Context, k: TopK = 10, trajectory_id: TrajectoryId = None,
                     reasoning: Reasoning = None, question: QuestionText = None,
                     question_id: QuestionId = None) -> BatchResponse:
        """The top-k documents for each of several queries (one encode, one FAISS search)."""
        arrived = time.time()
        rows = self.engine.search_many([(q, k) for q in queries])
        self._record("search_batch", _tag(ctx, trajectory_id), arrived, reasoning, question, question_id,
                     queries=queries, k=k, results=[results_of(r) for r in rows])
        return BatchResponse(results=rows, model=self.model)

    @bentoml.api
    def get_document(self, docid: DocId, ctx: bentoml.Context, trajectory_id: TrajectoryId = None,
                     reasoning: Reasoning = None, question: QuestionText = None,
                     question_id: QuestionId = None) -> Document:
        """A document's title and full text; 404 for a docid the corpus does not have."""
        arrived = time.time()
        found = self.engine.get_document(docid)
        self._record("get_document", _tag(ctx, trajectory_id), arrived, reasoning, question, question_id,
                     docid=docid, found=found is not None)
        if found is None:
            return _error(ctx, 404, f"unknown docid {docid!r}")
        return Document(**found)

    @bentoml.api
    def finish(self, ctx: bentoml.Context, trajectory_id: TrajectoryId = None, answer: str | None = None,
               success: bool | None = None, reasoning: Reasoning = None, question: QuestionText = None,
               question_id: QuestionId = None) -> dict[str, bool]:
        """Close a trajectory with its outcome (optional: one without /finish is ingested as incomplete)."""
        arrived = time.time()
        tid = _tag(ctx, trajectory_id)
        if tid is None:
            return _error(ctx, 400, "no trajectory id: send the header X-Trajectory-Id or the field trajectory_id")
        return {"recorded": self._record("finish", tid, arrived, reasoning, question, question_id, answer=answer,
                                         success=success)}

    @bentoml.on_shutdown
    def _close_capture(self) -> None:
        """Seal the open shard when the service stops."""
        if self.capture is not None:
            self.capture.close()


Retriever.add_asgi_middleware(BodyLimit, max_bytes=ARGS.max_body_bytes)
