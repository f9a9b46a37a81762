"""One POST to an OpenAI-compatible chat-completions endpoint, with the retry policy the judge and the agent share:
connection errors, timeouts, HTTP 429 and 5xx are retried with jittered exponential backoff (a server's
Retry-After wins when longer); other 4xx are final (the answer would not change)."""

from __future__ import annotations

import random
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from http.client import HTTPException

ROUTE = "/chat/completions"
MAX_RETRY_AFTER = 60.0


class Retryable(Exception):
    """A failure worth another attempt: ``kind`` is ``http``, ``timeout`` or ``connection``."""

    def __init__(self, kind: str, message: str, wait: float = 0.0) -> None:
        super().__init__(message)
        self.kind, self.message, self.wait = kind, message, wait


class Refused(Exception):
    """A final HTTP error (4xx other than 429), with the start of the server's explanation."""

    def __init__(self, status: int, detail: str) -> None:
        super().__init__(f"HTTP {status}" + (f": {detail}" if detail else ""))
        self.status, self.detail = status, detail


def endpoints(url: str) -> tuple[str, str]:
    """(base, chat-completions URL) from either form a user may paste: ``http://h:p/v1`` or the full route."""
    url = url.strip().rstrip("/")
    base = url[: -len(ROUTE)] if url.endswith(ROUTE) else url
    return base, base + ROUTE


def retry_after(value: str | None) -> float:
    try:
        return min(max(float(value or 0), 0.0), MAX_RETRY_AFTER)
    except ValueError:
        return 0.0  # an HTTP-date: fall back to our own backoff


def post_once(url: str, data: bytes, headers: dict[str, str], timeout: float, detail_chars: int = 200) -> bytes:
    request = urllib.request.Request(url, data=data, headers=headers, method="POST")
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return response.read()
    except urllib.error.HTTPError as exc:
        if exc.code == 429 or exc.code >= 500:
            raise Retryable("http", f"HTTP {exc.code}", retry_after(exc.headers.get("Retry-After"))) from None
        try:
            detail = exc.read()[:detail_chars].decode("utf-8", "replace").strip()
        except (OSError, HTTPException):
            detail = ""
        raise Refused(exc.code, detail) from None
    except (OSError, HTTPException) as exc:  # URLError, TimeoutError, ConnectionError, RemoteDisconnected
        if isinstance(exc, TimeoutError) or isinstance(getattr(exc, "reason", None), TimeoutError):
            raise Retryable("timeout", "timeout") from None
        raise Retryable("connection", f"connection error: {getattr(exc, 'reason', exc)}") from None


def post_with_retries(url: str, data: bytes, headers: dict[str, str], timeout: float, retries: int, backoff: float,
                      on_attempt: Callable[[], None] | None = None, on_retry: Callable[[], None] | None = None,
                      detail_chars: int = 200) -> bytes:
    """The response body; the last Retryable once the retries are spent, or Refused at once."""
    error: Retryable | None = None
    for attempt in range(retries + 1):
        if attempt:
            if on_retry is not None:
                on_retry()
            delay = backoff * 2 ** (attempt - 1)
            time.sleep(max(error.wait if error else 0.0, random.uniform(delay / 2, delay)))  # workers not in step
        if on_attempt is not None:
            on_attempt()
        try:
            return post_once(url, data, headers, timeout, detail_chars)
        except Retryable as exc:
            error = exc
    assert error is not None
    raise error
