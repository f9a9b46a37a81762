"""A scripted OpenAI-compatible chat-completions server for the agent tests (127.0.0.1, real HTTP).

A script is a function ``(request body, call number for this question) -> Reply``; the question is the first user
message, so concurrent questions each follow their own script. Every request is recorded."""

from __future__ import annotations

import json
import threading
import time
from collections import defaultdict
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass
class Reply:
    message: dict[str, Any] | None = None  # the assistant message
    status: int = 200
    error: str = ""
    delay: float = 0.0  # seconds before answering (timeouts)
    headers: dict[str, str] = field(default_factory=dict)
    usage: dict[str, int] | None = None


def call(call_id: str, name: str, arguments: Any) -> dict[str, Any]:
    args = arguments if isinstance(arguments, str) else json.dumps(arguments)
    return {"id": call_id, "type": "function", "function": {"name": name, "arguments": args}}


def tool_results(body: dict[str, Any]) -> list[dict[str, Any]]:
    """The tool messages of the request (what the agent sent back), in order."""
    return [m for m in body["messages"] if m.get("role") == "tool"]


@dataclass
class Scripted:
    script: Callable[[dict[str, Any], int], Reply]
    requests: list[dict[str, Any]] = field(default_factory=list)
    headers: list[dict[str, str]] = field(default_factory=list)
    calls: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    lock: threading.Lock = field(default_factory=threading.Lock)
    url: str = ""

    def question(self, body: dict[str, Any]) -> str:
        return next(m["content"] for m in body["messages"] if m.get("role") == "user")


@contextmanager
def chat_server(script: Callable[[dict[str, Any], int], Reply]) -> Iterator[Scripted]:
    state = Scripted(script)

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args: Any) -> None:
            pass

        def do_POST(self) -> None:  # noqa: N802
            body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
            with state.lock:
                key = state.question(body)
                n = state.calls[key]
                state.calls[key] += 1
                state.requests.append(body)
                state.headers.append(dict(self.headers))
            reply = state.script(body, n)
            if reply.delay:
                time.sleep(reply.delay)
            if reply.status != 200:
                data = json.dumps({"error": {"message": reply.error or "scripted error"}}).encode()
            else:
                answer: dict[str, Any] = {"id": "x", "object": "chat.completion", "model": body["model"],
                                          "choices": [{"index": 0, "message": {"role": "assistant", **reply.message},
                                                       "finish_reason": "stop"}]}
                if reply.usage:
                    answer["usage"] = reply.usage
                data = json.dumps(answer).encode()
            try:
                self.send_response(reply.status)
                for name, value in reply.headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)
            except (BrokenPipeError, ConnectionResetError):  # the client gave up (a timeout test)
                pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    state.url = f"http://127.0.0.1:{server.server_address[1]}/v1"
    try:
        yield state
    finally:
        server.shutdown()
        server.server_close()
