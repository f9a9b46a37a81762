"""The BentoML retrieval service end to end: a real bento built from a tiny generated world and the packaged MiniLM,
served by a real `bentoml serve` process, checked over HTTP against the in-process retriever.

Slow (about a minute): the world is indexed, packaged and built once, and one server runs for the whole module.
BentoML reads $BENTOML_HOME once, when it is first imported, so nothing here imports bentoml at module level: the
module fixture points the store at a temporary folder first (or, when another test module already imported
bentoml, uses that store; models and bentos are keyed by content, so sharing one is harmless).
"""

from __future__ import annotations

import http.client
import json
import os
import re
import shutil
import socket
import time
from collections.abc import Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

import pytest

from tests.serving.bento_world import bentoml_home, world_bento

if TYPE_CHECKING:
    import subprocess

    from lrat.retrieval.local import LocalRetriever
    from lrat.serving.engine import SearchEngine
    from lrat.simulate.world import World

TIMEOUT = 30.0  # seconds: a hanging server fails the test instead of blocking the run
MAX_K, MAX_QUERY_CHARS, MAX_BATCH, MAX_BODY = 100, 2000, 64, 1 << 20
BATCH_METRIC = "lrat_search_batch_size"


@dataclass(frozen=True)
class Built:
    """Everything the module's bento was made from, and its `package` record."""

    tmp: Path
    home: str              # the BentoML store the bento is in
    world: World
    corpus: Path
    cache: Path
    index: Path
    record: dict[str, Any]


@dataclass(frozen=True)
class Server:
    url: str
    proc: subprocess.Popen


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Built]:
    """World → corpus → exact index with the base MiniLM → BentoML model + bento (real `bentoml build`)."""
    before = os.environ.get("BENTOML_HOME")
    home = bentoml_home(tmp_path_factory.mktemp("bentoml"))
    from lrat.serving.settings import ServeArgs
    from lrat.simulate.export import write_world
    from lrat.simulate.world import generate_world

    tmp = tmp_path_factory.mktemp("service")
    world = generate_world(5, n_docs=300, n_questions=40)
    write_world(world, tmp / "world")
    serve = ServeArgs(max_k=MAX_K, max_query_chars=MAX_QUERY_CHARS, max_batch=MAX_BATCH, max_body_bytes=MAX_BODY)
    record = world_bento(tmp / "world", tmp, serve)
    corpus, cache, index = tmp / "world" / "corpus.jsonl", tmp / "cache", tmp / "index"
    try:
        yield Built(tmp, home, world, corpus, cache, index, record)
    finally:
        if before is None:
            os.environ.pop("BENTOML_HOME", None)
        else:
            os.environ["BENTOML_HOME"] = before


@pytest.fixture(scope="module")
def server(built: Built) -> Iterator[Server]:
    """One `bentoml serve` of the bento for the whole module, stopped (with its workers) at the end."""
    from lrat.serving.process import serving

    with serving(built.record["bento"], built.tmp / "serve.log", env={"BENTOML_HOME": built.home}) as (url, proc):
        yield Server(url, proc)


@pytest.fixture(scope="module")
def local(built: Built) -> LocalRetriever:
    """The in-process reference: same model, same cached corpus vectors, exact IndexFlatIP."""
    from lrat.retrieval.local import LocalRetriever

    return LocalRetriever.build("base", built.corpus, built.cache, progress=False)


@pytest.fixture(scope="module")
def engine(built: Built) -> SearchEngine:
    """The service's own search code, loaded in-process from the packaged BentoML model."""
    import bentoml

    from lrat.serving.engine import SearchEngine

    return SearchEngine.load(Path(bentoml.models.get(built.record["bentoml_model"]).path))


def call(url: str, route: str, body: Any = None, *, raw: bytes | Iterable[bytes] | None = None,
         method: str = "POST", headers: dict[str, str] | None = None, chunked: bool = False) -> tuple[int, Any]:
    """One request: ``body`` as JSON, or ``raw`` bytes (an iterable of chunks when ``chunked``); ``(status, JSON
    answer)``, the answer as text when it is not JSON. A server that answers before reading a body it refuses may
    close the connection while the body is still being sent: the answer is read all the same."""
    parts = urlsplit(url)
    conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=TIMEOUT)
    data = json.dumps(body).encode() if raw is None and body is not None else raw
    sent = {"Content-Type": "application/json", **(headers or {})} if method == "POST" else dict(headers or {})
    try:
        try:
            conn.request(method, f"/{route}", body=data, headers=sent, encode_chunked=chunked)
        except (BrokenPipeError, ConnectionResetError):
            pass
        answer = conn.getresponse()
        text = answer.read().decode("utf-8", errors="replace")
    finally:
        conn.close()
    try:
        return answer.status, json.loads(text)
    except ValueError:
        return answer.status, text


def docids(rows: list[dict[str, Any]]) -> list[str]:
    return [row["docid"] for row in rows]


def agent_queries(world: World) -> list[str]:
    """What the simulated agent asks (entity names, short descriptive phrases) and a whole question."""
    return [world.docs[3]["title"], world.docs[50]["title"].lower(), "harbour town ferry", "founded in 1811",
            "oldest lighthouse on the northern coast", "museum records", "the scholar who founded an academy",
            world.questions[0].text]


@pytest.mark.slow
def test_search_matches_the_in_process_retriever(server: Server, built: Built, local: LocalRetriever,
                                                 engine: SearchEngine) -> None:
    """The service ranks exactly as the in-process retriever and its own engine do, and names the served model."""
    for query in agent_queries(built.world):
        status, answer = call(server.url, "search", {"query": query, "k": 10})
        assert status == 200, answer
        rows = answer["results"]
        expected = local.search(query, 10)
        assert docids(rows) == [hit.docid for hit in expected], query
        assert [row["score"] for row in rows] == pytest.approx([hit.score for hit in expected], abs=1e-5)
        assert [row["rank"] for row in rows] == list(range(1, 11))
        assert answer["model"] == built.record["served_model"]
        assert docids(engine.search_many([(query, 10)])[0]) == docids(rows)
    assert built.record["served_model"]["name"] == "base"
    assert built.record["served_model"]["version"].startswith("files-")


@pytest.mark.slow
def test_search_batch_matches_the_in_process_retriever(server: Server, built: Built, local: LocalRetriever) -> None:
    """/search_batch answers every query as LocalRetriever.search_batch does; no queries, no results."""
    queries = agent_queries(built.world)[:6]
    status, answer = call(server.url, "search_batch", {"queries": queries, "k": 5})
    assert status == 200, answer
    expected = local.search_batch(queries, 5)
    assert [docids(rows) for rows in answer["results"]] == [[h.docid for h in hits] for hits in expected]
    for rows, hits in zip(answer["results"], expected, strict=True):
        assert [row["score"] for row in rows] == pytest.approx([h.score for h in hits], abs=1e-5)
        assert [row["rank"] for row in rows] == [1, 2, 3, 4, 5]
    assert answer["model"] == built.record["served_model"]
    status, answer = call(server.url, "search_batch", {"queries": [], "k": 5})
    assert (status, answer["results"]) == (200, [])


@pytest.mark.slow
def test_get_document_returns_the_corpus_record_and_404_for_an_unknown_docid(server: Server, built: Built) -> None:
    """A browse gets the document's title and full text; a docid the corpus lacks is a JSON 404, not an empty doc."""
    doc = built.world.docs[7]
    status, answer = call(server.url, "get_document", {"docid": doc["docid"]})
    assert status == 200
    assert answer == {"docid": doc["docid"], "title": doc["title"], "text": doc["text"]}
    status, answer = call(server.url, "get_document", {"docid": "no-such-doc"})
    assert status == 404
    assert isinstance(answer, dict) and "error" in answer


def _oversized() -> bytes:
    return json.dumps({"query": "x" * 3_000_000}).encode()


def _chunks(data: bytes, size: int = 1 << 16) -> Iterator[bytes]:
    for start in range(0, len(data), size):
        yield data[start:start + size]


@pytest.mark.slow
def test_bad_requests_get_a_4xx_json_error_and_the_server_keeps_answering(server: Server) -> None:
    """Every malformed or oversized request is refused with 400/413 and a JSON {"error"} (never a 5xx or a hang),
    and the service still answers normally afterwards."""
    cases: list[tuple[str, str, dict[str, Any], int]] = [
        ("missing query", "search", {"body": {"k": 3}}, 400),
        ("query is a number", "search", {"body": {"query": 123}}, 400),
        ("query is null", "search", {"body": {"query": None}}, 400),
        ("query is a list", "search", {"body": {"query": ["lighthouse"]}}, 400),
        ("empty query", "search", {"body": {"query": ""}}, 400),
        ("k=0", "search", {"body": {"query": "harbour", "k": 0}}, 400),
        ("k=-1", "search", {"body": {"query": "harbour", "k": -1}}, 400),
        ("k over max_k", "search", {"body": {"query": "harbour", "k": MAX_K + 1}}, 400),
        ("k is a string", "search", {"body": {"query": "harbour", "k": "5"}}, 400),
        ("k is a float", "search", {"body": {"query": "harbour", "k": 2.5}}, 400),
        ("not JSON", "search", {"raw": b"{not json"}, 400),
        ("JSON array", "search", {"raw": b'["harbour", 3]'}, 400),
        ("empty body", "search", {"raw": b""}, 400),
        ("3 MB with Content-Length", "search", {"raw": _oversized()}, 413),
        ("3 MB chunked", "search",
         {"raw": _chunks(_oversized()), "chunked": True, "headers": {"Transfer-Encoding": "chunked"}}, 413),
        ("query over max_query_chars", "search", {"body": {"query": "x" * (MAX_QUERY_CHARS + 1)}}, 400),
        ("batch over max_batch", "search_batch",
         {"body": {"queries": [f"query {i}" for i in range(MAX_BATCH + 1)], "k": 3}}, 400),
        ("queries is a string", "search_batch", {"body": {"queries": "abc"}}, 400),
        ("docid is a number", "get_document", {"body": {"docid": 5}}, 400),
    ]
    wrong = []
    for name, route, request, expected in cases:
        status, answer = call(server.url, route, **request)
        if status != expected or not (isinstance(answer, dict) and "error" in answer):
            wrong.append(f"{name}: {status} {str(answer)[:200]}")
    assert not wrong, "\n".join(wrong)
    assert server.proc.poll() is None
    status, answer = call(server.url, "search", {"query": "harbour", "k": 3})
    assert status == 200 and len(answer["results"]) == 3


@pytest.mark.slow
def test_health_and_metrics_endpoints(server: Server) -> None:
    """Orchestrators probe /readyz and /livez; /metrics exposes the batch-size histogram the batching is judged by."""
    assert call(server.url, "search", {"query": "harbour", "k": 3})[0] == 200
    for route in ("readyz", "livez"):
        assert call(server.url, route, method="GET")[0] == 200, route
    status, text = call(server.url, "metrics", method="GET")
    assert status == 200
    assert BATCH_METRIC in str(text)


def batch_histogram(text: str) -> tuple[float, float]:
    """``(batches of size 1, all batches)`` from the Prometheus exposition, summed over any label sets."""
    ones = total = 0.0
    sample = re.compile(rf"^{BATCH_METRIC}_(bucket|count)(?:\{{([^}}]*)\}})?\s+(\S+)")
    for line in text.splitlines():
        found = sample.match(line)
        if found is None:
            continue
        kind, labels, value = found.groups()
        if kind == "count":
            total += float(value)
        elif re.search(r'\ble="1(?:\.0)?"', labels or ""):
            ones += float(value)
    return ones, total


@pytest.mark.slow
def test_concurrent_searches_are_batched_and_answered_correctly(server: Server, built: Built,
                                                                local: LocalRetriever) -> None:
    """32 simultaneous /search calls are each answered with their own results, and some of them shared a batch."""
    queries = list(dict.fromkeys(f"{doc['title']} history" for doc in built.world.docs[:40]))[:32]
    assert len(queries) == 32
    status, text = call(server.url, "metrics", method="GET")
    ones_before, total_before = batch_histogram(str(text))

    def one(query: str) -> tuple[int, Any]:
        return call(server.url, "search", {"query": query, "k": 10})

    with ThreadPoolExecutor(max_workers=16) as pool:
        answers = list(pool.map(one, queries))
    expected = local.search_batch(queries, 10)
    for query, (status, answer), hits in zip(queries, answers, expected, strict=True):
        assert status == 200, (query, answer)
        assert docids(answer["results"]) == [h.docid for h in hits], query
    status, text = call(server.url, "metrics", method="GET")
    ones, total = batch_histogram(str(text))
    assert ones - ones_before < total - total_before, "no batch of two or more searches in /metrics"
    assert total - total_before < len(queries)


@pytest.mark.slow
def test_the_agent_over_the_service_writes_the_same_runs_as_in_process(server: Server, built: Built,
                                                                        local: LocalRetriever,
                                                                        tmp_path: Path) -> None:
    """The simulated agent is a client of the service in the flywheel: its runs must not depend on where the
    retriever runs (same searches, same results, same browses, same answers)."""
    from lrat.retrieval.http import HttpRetriever
    from lrat.simulate.agent import AgentConfig
    from lrat.simulate.driver import simulate

    questions, cfg = built.world.questions[:5], AgentConfig()
    in_process = simulate(built.world, questions, local, cfg, 7, tmp_path / "local")
    remote = simulate(built.world, questions, HttpRetriever(server.url, timeout=TIMEOUT), cfg, 7, tmp_path / "http")
    assert in_process["avg_searches"] and in_process["avg_searches"] > 0
    runs = sorted((tmp_path / "local").glob("run_*.json"))
    assert len(runs) == len(questions)
    assert sorted(p.name for p in (tmp_path / "http").glob("run_*.json")) == [p.name for p in runs]
    for path in runs:
        mine, theirs = json.loads(path.read_text()), json.loads((tmp_path / "http" / path.name).read_text())
        assert mine.pop("metadata")["retriever"] == "base"
        assert theirs.pop("metadata")["retriever"] == server.url
        assert mine == theirs, path.name
    for key in ("trajectories", "success", "by_status", "avg_searches", "avg_browses", "rounds"):
        assert in_process[key] == remote[key], key


@pytest.mark.slow
def test_the_server_stops_cleanly_with_its_workers(built: Built) -> None:
    """Leaving `serving` ends `bentoml serve` and its worker processes and frees the port (no orphan keeps
    answering or holds the model in memory)."""
    from lrat.serving.process import serving

    with serving(built.record["bento"], built.tmp / "serve-2.log", env={"BENTOML_HOME": built.home}) as (url, proc):
        status, answer = call(url, "search", {"query": "harbour", "k": 2})
        assert status == 200 and len(answer["results"]) == 2
    assert proc.poll() is not None
    assert proc.returncode != -9, "bentoml serve ignored SIGTERM and had to be killed"
    parts = urlsplit(url)
    with pytest.raises(OSError), socket.create_connection((parts.hostname, parts.port), timeout=2):
        pass
    deadline = time.monotonic() + 10
    while True:  # the workers share the server's process group: none of them may outlive it
        try:
            os.killpg(proc.pid, 0)
        except ProcessLookupError:
            break
        assert time.monotonic() < deadline, f"processes of group {proc.pid} still running after the server stopped"
        time.sleep(0.2)


@pytest.mark.slow
def test_an_index_is_refused_with_a_model_other_than_its_own(built: Built, tmp_path: Path) -> None:
    """Serving an index with the wrong encoder would answer nonsense silently: packaging and loading refuse it."""
    import bentoml

    from lrat.retrieval.encoder import model_path
    from lrat.serving.engine import ENCODER_DIR, SearchEngine
    from lrat.serving.index import IndexMismatch, build_index
    from lrat.serving.models import resolve_model
    from lrat.serving.package import import_model
    from lrat.serving.settings import MODEL_NAME, IndexSettings
    from tests.training.tiny import tiny_model

    tiny = tmp_path / "tiny"
    tiny_model(tiny)
    tiny_index = tmp_path / "tiny-index"
    build_index(resolve_model(str(tiny), "lrat-retriever"), built.corpus, tiny_index, IndexSettings(),
                cache_dir=built.cache, progress=False)
    stored = {str(m.tag) for m in bentoml.models.list(MODEL_NAME)}
    with pytest.raises(IndexMismatch, match=r"the index was built with .*tiny.* but the model given"):
        import_model(tiny_index, model=model_path("base"))
    assert {str(m.tag) for m in bentoml.models.list(MODEL_NAME)} == stored  # nothing half-imported

    mixed = tmp_path / "mixed"
    shutil.copytree(bentoml.models.get(built.record["bentoml_model"]).path, mixed)
    shutil.rmtree(mixed / ENCODER_DIR)
    shutil.copytree(tiny, mixed / ENCODER_DIR)
    with pytest.raises(IndexMismatch, match="the index was built with base"):
        SearchEngine.load(mixed)


def test_lrat_agent_searches_and_browses_through_the_service(built: Built, server: Server, local: LocalRetriever,
                                                            tmp_path: Path) -> None:
    """`lrat agent --retriever http://…` (issue 14): the LLM's tools run against the served index; the run files
    show the service's results and ingest with 0 rejects."""
    from typer.testing import CliRunner

    from lrat.cli import app
    from lrat.ingest.runner import ingest
    from tests.agent.server import Reply, chat_server, tool_results
    from tests.agent.server import call as tool_call

    def script(body: dict[str, Any], n: int) -> Reply:
        question = body["messages"][1]["content"]
        if n == 0:
            return Reply({"content": None, "tool_calls": [tool_call("s", "search", {"query": question[:80]})]})
        if n == 1:
            docid = json.loads(tool_results(body)[-1]["content"])[0]["docid"]
            return Reply({"content": None, "tool_calls": [tool_call("g", "get_document", {"docid": docid})]})
        return Reply({"content": "Explanation: x\nExact Answer: y\nConfidence: 5%"})

    out = tmp_path / "runs"
    with chat_server(script) as llm:
        result = CliRunner().invoke(app, ["agent", "--questions", str(built.tmp / "world" / "ground_truth.jsonl"),
                                          "--llm-url", llm.url, "--llm-model", "m", "--out", str(out),
                                          "--retriever", server.url, "--limit", "3", "-q",
                                          "--params", str(tmp_path / "none.yaml")])
    assert result.exit_code == 0, result.output
    for question in built.world.questions[:3]:
        run = json.loads((out / f"run_{question.qid}.json").read_text())
        shown = [hit["docid"] for hit in json.loads(run["result"][0]["output"])]
        assert shown == [hit.docid for hit in local.search(question.text[:80], 5)]
        page = json.loads(run["result"][1]["output"])
        assert page["docid"] == shown[0] and page["text"]
    summary = ingest([out], tmp_path / "ing", "auto", built.corpus, progress=False)
    assert summary["rejected"] == 0 and summary["trajectories"] == 3
