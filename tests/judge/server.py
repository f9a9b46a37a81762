"""A real chat-completions server for the judge tests and benchmark: stdlib HTTP on 127.0.0.1, scripted replies.

By default it answers NOT_RELEVANT when the last user message contains ``marker`` and RELEVANT otherwise; tests
steer it through attributes (``failures``, ``status``, ``delay``, ``content``, ``raw``) and read what it saw
(``requests``, ``max_in_flight``)."""

from __future__ import annotations

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

MARKER = "OFFTOPIC"
MODEL = "served-model"


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 256  # the stdlib default of 5 refuses connections beyond 5 concurrent clients

    def handle_error(self, request: object, client_address: object) -> None:
        return None  # a client that gave up (timeout test) is not a server failure


class ChatServer:
    def __init__(self, delay: float = 0.0, marker: str = MARKER) -> None:
        self.delay, self.marker = delay, marker  # the official fixtures' rule server uses marker="perhaps"
        self.failures = 0  # the next N requests get HTTP `failure_status`, then normal service
        self.failure_status = 500
        self.status: int | None = None  # every request gets this status (e.g. 500 forever)
        self.content: str | None = None  # reply with this message content instead of the rule's label
        self.raw: bytes | None = None  # reply with this body verbatim (HTTP 200)
        self.requests: list[dict[str, Any]] = []
        self.in_flight = self.max_in_flight = 0
        self._lock = threading.Lock()
        self._httpd = _Server(("127.0.0.1", 0), _handler(self))
        self._thread = threading.Thread(target=self._httpd.serve_forever, kwargs={"poll_interval": 0.05},
                                        daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._httpd.server_address[1]}/v1"

    @property
    def posts(self) -> list[dict[str, Any]]:
        return [r for r in self.requests if r["method"] == "POST"]

    def __enter__(self) -> ChatServer:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()

    def respond(self, body: dict[str, Any]) -> tuple[int, bytes]:
        """The scripted answer to one POST body (called with the request already recorded)."""
        with self._lock:
            failing = self.failures > 0
            self.failures -= failing
        if failing:
            return self.failure_status, b'{"error": "scripted failure"}'
        if self.status is not None:
            return self.status, b'{"error": "scripted status"}'
        if self.raw is not None:
            return 200, self.raw
        content = self.content
        if content is None:
            content = "NOT_RELEVANT" if self.marker in body["messages"][-1]["content"] else "RELEVANT"
        reply = {"id": "x", "object": "chat.completion", "model": body.get("model"),
                 "choices": [{"index": 0, "message": {"role": "assistant", "content": content},
                              "finish_reason": "stop"}]}
        return 200, json.dumps(reply).encode()


def _handler(server: ChatServer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - the base class's name
            return None

        def _send(self, status: int, body: bytes) -> None:
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def do_GET(self) -> None:  # noqa: N802 - http.server's naming
            server.requests.append({"method": "GET", "path": self.path, "headers": dict(self.headers)})
            if self.path.endswith("/models"):
                self._send(200, json.dumps({"object": "list", "data": [{"id": MODEL}]}).encode())
            else:
                self._send(404, b"{}")

        def do_POST(self) -> None:  # noqa: N802
            body = json.loads(self.rfile.read(int(self.headers.get("Content-Length", 0))))
            with server._lock:
                server.requests.append({"method": "POST", "path": self.path, "headers": dict(self.headers),
                                        "body": body})
                server.in_flight += 1
                server.max_in_flight = max(server.max_in_flight, server.in_flight)
            try:
                if server.delay:
                    time.sleep(server.delay)
                if not self.path.endswith("/chat/completions"):
                    self._send(404, b"{}")
                else:
                    self._send(*server.respond(body))
            finally:
                with server._lock:
                    server.in_flight -= 1

    return Handler
