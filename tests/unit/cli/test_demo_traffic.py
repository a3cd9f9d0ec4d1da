"""The demo's background traffic: what it sends, that it takes no stock, and that it stops by itself."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from otelbundle.cli import demo_traffic


class Storefront:
    """Records (method, path, body) of every request and answers like the example storefront."""

    def __init__(self) -> None:
        self.requests: list[tuple[str, str, dict[str, object] | None]] = []
        seen = self.requests

        class Handler(BaseHTTPRequestHandler):
            def _answer(self, status: int) -> None:
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def do_GET(self) -> None:
                seen.append(("GET", self.path, None))
                self._answer(200)

            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                seen.append(("POST", self.path, body))
                self._answer(502 if body.get("sku") == "FAIL" else 404)

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()


@pytest.fixture
def storefront() -> Iterator[Storefront]:
    running = Storefront()
    yield running
    running.server.shutdown()


def test_listings_and_checkouts_that_take_no_stock_until_the_limit(storefront: Storefront) -> None:
    started = time.monotonic()
    demo_traffic.run(storefront.url, interval=0.05, limit=0.5)
    assert time.monotonic() - started < 5
    kinds = {(method, path, (body or {}).get("sku")) for method, path, body in storefront.requests}
    assert kinds == {
        ("GET", "/products", None),
        ("POST", "/checkout", "FAIL"),
        ("POST", "/checkout", "NO-SUCH-SKU"),
    }
    assert len(storefront.requests) >= 6


def test_it_gives_up_when_the_storefront_is_gone(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(demo_traffic, "GIVE_UP_AFTER_S", 0.3)
    started = time.monotonic()
    demo_traffic.run("http://127.0.0.1:9", interval=0.05, limit=60)  # port 9: nothing listens
    assert time.monotonic() - started < 10
