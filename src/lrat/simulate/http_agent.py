"""The simulated agent as a caller of the lrat service that tags its calls, so the service's capture records it.

`driver.simulate` batches every agent's searches into one retriever call per round: fast, but a service sees only
anonymous batches. Here each agent is a separate caller, as a real one is: one POST /search per search, one POST
/get_document per browse, and a POST /finish with its answer, all tagged with the trajectory's id (header
X-Trajectory-Id), with the reasoning the agent wrote since its previous call and, on the first call, the question.
That makes it the test caller for capture, and what the flywheel runs with ``flywheel.collect: service``: the
trajectories are then learned from what the service recorded, as they would be in production.

The agent is the same (`run_agent`, the same random stream per question as `driver.simulate`), so with the same
results it makes the same searches, browses and answers, and the run files written beside are the same runs.
"""

from __future__ import annotations

import http.client
import json
import random
import threading
import time
import uuid
from collections.abc import Callable
from concurrent.futures import FIRST_EXCEPTION, Future, ThreadPoolExecutor, wait
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from lrat.capture_events import HEADER
from lrat.io import write_json
from lrat.retrieval.base import Hit
from lrat.simulate.agent import AgentConfig, WorldView, run_agent
from lrat.simulate.driver import outcome, summarize
from lrat.simulate.runfile import run_record
from lrat.simulate.world import Question, World


class ServiceError(RuntimeError):
    """A call the service refused, could not be reached for, or answered with something else than the world has."""

    def __init__(self, route: str, status: int | None, detail: str) -> None:
        self.route, self.status = route, status
        super().__init__(f"POST /{route}: {'no answer' if status is None else f'HTTP {status}'}: {detail}")


class _Service:
    """The service's URL with one keep-alive connection per worker thread: an agent makes dozens of small calls
    in a row, and a new TCP connection for each would cost more than the call (and leave sockets in TIME_WAIT)."""

    def __init__(self, url: str, timeout: float) -> None:
        parts = urlsplit(url.rstrip("/"))
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"not an http(s) URL: {url!r}")
        self.url, self.timeout = url.rstrip("/"), timeout
        self._host, self._port, self._path = parts.hostname, parts.port, parts.path
        self._https = parts.scheme == "https"
        self._local = threading.local()
        self._lock = threading.Lock()
        self._opened: list[http.client.HTTPConnection] = []

    def _connection(self) -> http.client.HTTPConnection:
        conn = getattr(self._local, "conn", None)
        if conn is None:
            kind = http.client.HTTPSConnection if self._https else http.client.HTTPConnection
            conn = self._local.conn = kind(self._host, self._port, timeout=self.timeout)
            self._local.used = False
            with self._lock:
                self._opened.append(conn)
        return conn

    def post(self, route: str, body: dict[str, Any], trajectory_id: str) -> Any:
        """The JSON answer of one tagged call; a ServiceError naming the route and status for anything but 200.

        A connection that already served a call may have been closed by the server while idle (keep-alive timeout):
        that one failure is met by reconnecting and sending again, since the server never read the request. Any
        other failure raises: a lost call would leave a hole in the recorded trajectory."""
        data = json.dumps(body, ensure_ascii=False).encode()
        headers = {"Content-Type": "application/json", HEADER: trajectory_id}
        while True:
            conn = self._connection()
            reused = self._local.used
            try:
                conn.request("POST", f"{self._path}/{route}", body=data, headers=headers)
                response = conn.getresponse()
                payload = response.read()
            except (http.client.RemoteDisconnected, BrokenPipeError, ConnectionResetError) as exc:
                conn.close()
                self._local.used = False
                if reused:
                    continue
                raise ServiceError(route, None, repr(exc)) from exc
            except (OSError, http.client.HTTPException) as exc:
                conn.close()
                self._local.used = False
                raise ServiceError(route, None, repr(exc)) from exc
            self._local.used = True
            if response.status != 200:
                raise ServiceError(route, response.status, payload[:500].decode("utf-8", errors="replace"))
            try:
                return json.loads(payload)
            except ValueError as exc:
                raise ServiceError(route, response.status, f"not JSON: {payload[:200]!r}") from exc

    def close(self) -> None:
        with self._lock:
            for conn in self._opened:
                conn.close()
            self._opened.clear()


class _Caller:
    """One trajectory's side of the conversation: turns the agent's items, as they appear, into tagged calls.

    The agent appends items as it goes (reasoning, a search's tool_call once its hits are back, browses); every call
    carries the reasoning items that came since the previous call, so the service records each thought before the
    call it led to, the way a real agent's trace reads."""

    def __init__(self, service: _Service, q: Question, view: WorldView, items: list[dict[str, Any]]) -> None:
        self.service, self.q, self.view, self.items = service, q, view, items
        self.trajectory_id = f"sim-{uuid.uuid4().hex}"
        self.seen = 0                     # items already turned into calls (or carried as reasoning)
        self.reasoning: list[str] = []    # reasoning since the previous call
        self.first = True
        self.sent_query: str | None = None
        self.answer_text: str | None = None
        self.model: dict[str, str] | None = None

    def call(self, route: str, body: dict[str, Any]) -> Any:
        body["reasoning"] = self.reasoning
        if self.first:  # the service keeps the question once per trajectory: send it once
            body["question"], body["question_id"] = self.q.text, self.q.qid
        answer = self.service.post(route, body, self.trajectory_id)
        self.first, self.reasoning = False, []
        return answer

    def catch_up(self) -> None:
        """Send the browses the agent made since the previous call (each with the reasoning before it) and keep
        the reasoning after the last one for the next call."""
        for item in self.items[self.seen:]:
            self.seen += 1
            if item["type"] == "reasoning":
                self.reasoning.append(item["output"])
            elif item["type"] == "output_text":
                self.answer_text = item["output"]
            elif item["tool_name"] == "get_document":
                self.browse(json.loads(item["arguments"])["docid"])
            elif item["tool_name"] == "search":  # the search already sent: its tool_call lands once hits are back
                query = json.loads(item["arguments"])["query"]
                if query != self.sent_query:
                    raise RuntimeError(f"{self.q.qid}: the agent recorded a search for {query!r}, "
                                       f"but sent {self.sent_query!r}")

    def browse(self, docid: str) -> None:
        """The agent read the page from its own view of the world; the call is what the service records, and the
        text it returns must be the world's, or the recorded trajectory would not be the one the agent lived."""
        answer = self.call("get_document", {"docid": docid})
        if answer.get("text") != self.view.docs[docid][1]:
            raise ServiceError("get_document", 200, f"docid {docid}: the service's text is not the world's "
                                                    "(is it serving this world's corpus?)")

    def search(self, query: str, k: int) -> list[Hit]:
        self.catch_up()
        answer = self.call("search", {"query": query, "k": k})
        self.sent_query = query
        if self.model is None:
            self.model = answer.get("model")
        hits = [Hit(str(r["docid"]), float(r["score"])) for r in answer["results"]]
        if len(hits) > k:
            raise ServiceError("search", 200, f"{len(hits)} results for k={k}")
        unknown = [h.docid for h in hits if h.docid not in self.view.docs]
        if unknown:  # the agent reads results from its world: a corpus that is not the world's would fail later
            raise ServiceError("search", 200, f"docids {unknown[:3]} are not in this world's corpus "
                                              "(is the service serving this world's corpus?)")
        return hits

    def finish(self, correct: bool) -> None:
        self.catch_up()
        self.call("finish", {"answer": self.answer_text, "success": correct})


def _run_one(q: Question, view: WorldView, cfg: AgentConfig, seed: int,
             service: _Service) -> tuple[dict[str, Any], _Caller]:
    items: list[dict[str, Any]] = []
    gen = run_agent(q, view, cfg, random.Random(f"{seed}:{q.qid}"), items=items)
    caller = _Caller(service, q, view, items)
    try:
        query = next(gen)
        while True:
            query = gen.send(caller.search(query, cfg.k))
    except StopIteration as stop:
        run = stop.value
    caller.finish(run["answer"] is not None and run["answer"] == q.answer)
    return run, caller


def simulate_over_http(
    world: World, questions: list[Question], url: str, cfg: AgentConfig, seed: int, out: Path | None = None,
    progress: Callable[[int], None] | None = None, concurrency: int = 16, held_out: set[str] | None = None,
    timeout: float = 30.0,
) -> dict[str, Any]:
    """Run each question's agent against the service at ``url``, ``concurrency`` agents at a time (the service
    batches their concurrent searches itself); driver.simulate's summary plus ``trajectory_ids`` ({qid: id}).

    ``out``: also write the run files, as driver.simulate does, naming the retriever ``lrat-serve NAME/VERSION``
    after the model the service said ranked the run's searches (``lrat-serve URL`` for a run that made none).
    ``rounds`` is the most searches one agent made: the rounds driver.simulate's lock-step would have taken.
    ``held_out``: as in driver.simulate. Any failed call raises (ServiceError: route and status)."""
    if concurrency < 1:
        raise ValueError(f"concurrency must be at least 1, not {concurrency}")
    if out is not None:
        out.mkdir(parents=True, exist_ok=True)
        for stale in out.glob("run_*.json"):
            stale.unlink()
    view = WorldView(world.entities, {d["docid"]: (d["title"], d["text"]) for d in world.docs})
    service = _Service(url, timeout)
    start = time.perf_counter()
    outcomes: list[dict[str, Any]] = []
    ids: dict[str, str] = {}
    pool = ThreadPoolExecutor(max_workers=concurrency, thread_name_prefix="lrat-agent")
    try:
        futures: dict[Future, Question] = {pool.submit(_run_one, q, view, cfg, seed, service): q
                                           for q in questions}
        pending = set(futures)
        while pending:
            done, pending = wait(pending, return_when=FIRST_EXCEPTION)
            for future in done:
                q = futures[future]
                run, caller = future.result()  # the first failure stops the whole run (the finally cancels)
                ids[q.qid] = caller.trajectory_id
                if out is not None:
                    model = caller.model
                    name = f"lrat-serve {model['name']}/{model['version']}" if model else f"lrat-serve {service.url}"
                    write_json(out / f"run_{q.qid}.json", run_record(q, run, name, seed, cfg.k, cfg.snippet_words))
                outcomes.append(outcome(q, run))
                if progress is not None:
                    progress(1)
    finally:
        pool.shutdown(wait=True, cancel_futures=True)
        service.close()
    summary = summarize(outcomes, time.perf_counter() - start, max((o["searches"] for o in outcomes), default=0),
                        held_out)
    summary["trajectory_ids"] = {q.qid: ids[q.qid] for q in questions}
    return summary
