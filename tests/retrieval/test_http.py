"""The HTTP retriever client against a real HTTP server (stdlib) that serves a real retriever."""

from __future__ import annotations

import json
import threading
import urllib.error
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from lrat.retrieval.http import HttpRetriever
from lrat.simulate.agent import AgentConfig
from lrat.simulate.driver import simulate
from lrat.simulate.world import World, generate_world

from ..simulate.lexical import LexicalRetriever


class Service:
    """The search service's protocol over any retriever; switches to mimic an older or failing service."""

    def __init__(self, retriever: LexicalRetriever) -> None:
        self.retriever, self.batch = retriever, True
        self.fail_with: int | None = None
        self.requests: list[str] = []
        service = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: object) -> None:
                pass

            def do_POST(self) -> None:  # noqa: N802 (the stdlib's name)
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                route = self.path.strip("/")
                service.requests.append(route)
                status, answer = service.answer(route, body)
                data = json.dumps(answer).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"

    @staticmethod
    def _rows(hits: list) -> list[dict]:
        return [{"docid": h.docid, "score": h.score} for h in hits]

    def answer(self, route: str, body: dict) -> tuple[int, dict]:
        if self.fail_with is not None:
            return self.fail_with, {"error": "boom"}
        if route == "search":
            return 200, {"results": self._rows(self.retriever.search(body["query"], body["k"]))}
        if route == "search_batch" and self.batch:
            return 200, {"results": [self._rows(h) for h in self.retriever.search_batch(body["queries"], body["k"])]}
        if route == "get_document":
            text = self.retriever.get_document(body["docid"])
            return (404, {"error": "unknown docid"}) if text is None else (200, {"docid": body["docid"], "text": text})
        return 404, {"error": f"no route {route}"}


@pytest.fixture(scope="module")
def world() -> World:
    return generate_world(5, n_docs=300, n_questions=40)


@pytest.fixture
def service(world: World) -> Iterator[Service]:
    svc = Service(LexicalRetriever(world.docs))
    thread = threading.Thread(target=svc.server.serve_forever, daemon=True)
    thread.start()
    yield svc
    svc.server.shutdown()
    svc.server.server_close()


def test_search_batch_and_documents_match_the_served_retriever(service: Service, world: World):
    client = HttpRetriever(service.url)
    queries = [q.text for q in world.questions[:5]]
    assert client.search_batch(queries, 10) == service.retriever.search_batch(queries, 10)
    assert client.search(queries[0], 3) == service.retriever.search(queries[0], 3)
    docid = world.docs[7]["docid"]
    assert client.get_document(docid) == world.docs[7]["text"]
    assert client.get_document("no-such-doc") is None
    assert service.requests.count("search_batch") == 1


def test_more_queries_than_the_service_takes_at_once_go_in_several_batches(service: Service, world: World):
    client = HttpRetriever(service.url, max_batch=3)
    queries = [q.text for q in world.questions[:8]]
    assert client.search_batch(queries, 5) == service.retriever.search_batch(queries, 5)
    assert service.requests.count("search_batch") == 3  # 3 + 3 + 2, in order


def test_an_older_service_without_search_batch_gets_one_request_per_query(service: Service, world: World):
    service.batch = False
    client = HttpRetriever(service.url)
    queries = [q.text for q in world.questions[:4]]
    assert client.search_batch(queries, 10) == service.retriever.search_batch(queries, 10)
    client.search_batch(queries[:2], 10)
    assert service.requests.count("search_batch") == 1  # asked once, then remembered
    assert service.requests.count("search") == 6


def test_server_errors_are_raised_not_taken_for_empty_results(service: Service):
    service.fail_with = 500
    client = HttpRetriever(service.url)
    with pytest.raises(urllib.error.HTTPError):
        client.search_batch(["anything"], 10)
    with pytest.raises(urllib.error.HTTPError):
        client.get_document("1")


def test_the_agent_over_http_writes_the_same_runs_as_in_process(service: Service, world: World, tmp_path: Path):
    cfg = AgentConfig()
    simulate(world, world.questions, service.retriever, cfg, 7, tmp_path / "local")
    simulate(world, world.questions, HttpRetriever(service.url), cfg, 7, tmp_path / "http")
    for path in sorted((tmp_path / "local").glob("run_*.json")):
        local, remote = json.loads(path.read_text()), json.loads((tmp_path / "http" / path.name).read_text())
        assert local.pop("metadata")["retriever"] == "lexical"
        assert remote.pop("metadata")["retriever"] == service.url
        assert local == remote
