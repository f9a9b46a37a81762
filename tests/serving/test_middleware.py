"""The request-size cap: oversized bodies get 413 without reaching the service, declared or chunked."""

from __future__ import annotations

import asyncio
import json

from lrat.serving.middleware import BodyLimit


class App:
    def __init__(self) -> None:
        self.bodies: list[bytes] = []

    async def __call__(self, scope, receive, send) -> None:
        body = b""
        while True:
            message = await receive()
            body += message.get("body", b"")
            if not message.get("more_body"):
                break
        self.bodies.append(body)
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"ok"})


def _call(chunks: list[bytes], length: str | None, method: str = "POST", limit: int = 100) -> tuple[int, bytes, App]:
    app = App()
    headers = [(b"content-length", length.encode())] if length is not None else []
    scope = {"type": "http", "method": method, "headers": headers}
    queue = [{"type": "http.request", "body": c, "more_body": i < len(chunks) - 1} for i, c in enumerate(chunks)]
    sent: list[dict] = []

    async def receive() -> dict:
        return queue.pop(0) if queue else {"type": "http.disconnect"}

    async def send(message: dict) -> None:
        sent.append(message)

    asyncio.run(BodyLimit(app, max_bytes=limit)(scope, receive, send))
    return sent[0]["status"], b"".join(m.get("body", b"") for m in sent[1:]), app


def test_declared_oversize_is_413_unread():
    status, body, app = _call([b"x" * 500], "500")
    assert status == 413 and "over the limit of 100 bytes" in json.loads(body)["error"] and app.bodies == []


def test_chunked_oversize_is_413():
    status, body, app = _call([b"x" * 60, b"x" * 60], None)
    assert status == 413 and app.bodies == []


def test_bodies_within_the_limit_reach_the_app_whole():
    assert _call([b'{"q": 1}'], "8")[2].bodies == [b'{"q": 1}']
    status, _, app = _call([b'{"q"', b": 1}"], None)
    assert status == 200 and app.bodies == [b'{"q": 1}']


def test_a_bad_content_length_is_400_and_reads_pass_through():
    status, body, app = _call([b"{}"], "lots")
    assert status == 400 and "not a number" in json.loads(body)["error"] and app.bodies == []
    assert _call([b""], None, method="GET")[0] == 200
