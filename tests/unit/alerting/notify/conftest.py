"""A scripted HTTP server on loopback: each request gets the next queued answer (status and headers).

harness/http_sink.py answers 429 with ``Retry-After: 0`` only; these tests need other Retry-After
values, redirects with a Location, and the time and method of every request.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest


@dataclass
class Seen:
    at: float  # time.monotonic()
    method: str
    path: str
    headers: dict[str, str]
    body: Any
    raw: bytes = b""  # the body's bytes as they arrived


class Scripted:
    """Answers the queued ``(status, headers)`` in order, then 200; records every request.

    ``max_body``: a body longer than that many bytes is answered 413 before any queued answer
    (nginx's ``client_max_body_size``), and recorded in ``too_large``, not in ``seen``."""

    def __init__(self) -> None:
        self.answers: list[tuple[int, dict[str, str]]] = []
        self.max_body: int | None = None
        self.too_large: list[int] = []  # the length of each body refused with 413
        self.seen: list[Seen] = []
        self.lock = threading.Lock()
        server = self

        class Handler(BaseHTTPRequestHandler):
            def _answer(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length) if length else b""
                with server.lock:
                    if server.max_body is not None and length > server.max_body:
                        server.too_large.append(length)
                        self.send_response(413)
                        self.send_header("Content-Length", "0")
                        self.end_headers()
                        return
                    server.seen.append(
                        Seen(
                            time.monotonic(),
                            self.command,
                            self.path,
                            dict(self.headers),
                            json.loads(raw) if raw else None,
                            raw,
                        )
                    )
                    status, headers = server.answers.pop(0) if server.answers else (200, {})
                self.send_response(status)
                for name, value in headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", "0")
                self.end_headers()

            do_GET = do_POST = _answer

            def log_message(self, *args: object) -> None:
                return

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def scripted() -> Iterator[Scripted]:
    server = Scripted()
    yield server
    server.close()


@pytest.fixture
def other() -> Iterator[Scripted]:
    """A second server: where a redirect points."""
    server = Scripted()
    yield server
    server.close()
