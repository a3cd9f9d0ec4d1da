"""A real Alertmanager behind a proxy with nginx's default body limit (1 MiB): a dispatch of
3000 alerts (~3.5 MB) used to be one body, answered 413, and none arrived; in chunks, all do.
Behind a 128 KiB limit (an ingress's), a 512 KiB chunk is answered 413 and sent again in halves:
every alert still arrives, and the next dispatch gets no 413."""

from __future__ import annotations

import json
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from otelbundle.alerting.alert import Alert
from otelbundle.alerting.notify import AlertmanagerNotifier, NotificationDispatcher

LIMIT = 1024 * 1024  # nginx's default client_max_body_size
NAME = "OtelbundleBodyLimitTest"
SMALL_LIMIT = 128 * 1024  # an ingress's limit, under the 512 KiB a chunk may carry


class LimitingProxy:
    """Answers 413 to a body over ``limit`` bytes, forwards the rest to ``upstream``; notes each
    body's length and the status it got."""

    def __init__(self, upstream: str, limit: int = LIMIT) -> None:
        self.bodies: list[tuple[int, int]] = []
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                data = self.rfile.read(length)
                status = 413
                if length <= limit:
                    request = urllib.request.Request(upstream + self.path, data=data, method="POST")
                    request.add_header("Content-Type", self.headers.get("Content-Type", ""))
                    try:
                        with urllib.request.urlopen(request, timeout=30) as response:
                            status = response.status
                    except urllib.error.HTTPError as exc:
                        status = exc.code
                proxy.bodies.append((length, status))
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: object) -> None:
                return

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def proxy(alertmanager: str) -> Iterator[LimitingProxy]:
    server = LimitingProxy(alertmanager)
    yield server
    server.close()


@pytest.fixture
def small_proxy(alertmanager: str) -> Iterator[LimitingProxy]:
    server = LimitingProxy(alertmanager, SMALL_LIMIT)
    yield server
    server.close()


def shown(alertmanager: str, name: str = NAME) -> int:
    query = urllib.parse.quote(f'alertname="{name}"')
    with urllib.request.urlopen(f"{alertmanager}/api/v2/alerts?filter={query}", timeout=10) as response:
        return len(json.loads(response.read()))


def test_3000_alerts_through_a_1_mib_proxy_all_reach_alertmanager(
    alertmanager: str, proxy: LimitingProxy
) -> None:
    now = datetime.now(timezone.utc)
    batch = [
        Alert(
            {"alertname": NAME, "key": f"k{n:04}"},
            {"summary": "checkout fails " * 70},  # ~1 KB: an alert with its evidence is a few
            "firing",
            now,
            now + timedelta(minutes=10),
        )
        for n in range(3000)
    ]
    dispatcher = NotificationDispatcher([AlertmanagerNotifier(proxy.url, timeout=30)])
    dispatcher.submit(batch)
    assert dispatcher.flush(120)
    assert sum(length for length, _ in proxy.bodies) > 3 * LIMIT  # one body would have been refused
    assert all(status == 200 for _, status in proxy.bodies), proxy.bodies
    assert dispatcher.stats()["alertmanager"].sent == 1
    deadline = time.monotonic() + 30  # Alertmanager shows what it accepted; wait for it, not a time
    while (count := shown(alertmanager)) < 3000:
        assert time.monotonic() < deadline, f"Alertmanager shows {count} of 3000 alerts"
        time.sleep(0.2)
    assert count == 3000
    dispatcher.shutdown()


def batch_of(name: str, count: int) -> list[Alert]:
    now = datetime.now(timezone.utc)
    return [
        Alert(
            {"alertname": name, "key": f"k{n:04}"},
            {"summary": "checkout fails " * 70},
            "firing",
            now,
            now + timedelta(minutes=10),
        )
        for n in range(count)
    ]


def wait_shown(alertmanager: str, name: str, count: int) -> None:
    deadline = time.monotonic() + 30  # Alertmanager shows what it accepted; wait for it, not a time
    while (seen := shown(alertmanager, name)) < count:
        assert time.monotonic() < deadline, f"Alertmanager shows {seen} of {count} {name} alerts"
        time.sleep(0.2)
    assert seen == count


def test_1000_alerts_through_a_128_kib_proxy_all_reach_alertmanager(
    alertmanager: str, small_proxy: LimitingProxy
) -> None:
    first, second = NAME + "Small", NAME + "SmallNext"
    dispatcher = NotificationDispatcher([AlertmanagerNotifier(small_proxy.url, timeout=30)])
    dispatcher.submit(batch_of(first, 1000))  # ~1.1 MB: chunks of up to 512 KiB at first
    assert dispatcher.flush(120)
    refused = [length for length, status in small_proxy.bodies if status == 413]
    assert refused and all(length > SMALL_LIMIT for length in refused)
    assert all(status in (200, 413) for _, status in small_proxy.bodies), small_proxy.bodies
    wait_shown(alertmanager, first, 1000)
    before = len(small_proxy.bodies)
    dispatcher.submit(batch_of(second, 1000))
    assert dispatcher.flush(120)
    assert all(status == 200 for _, status in small_proxy.bodies[before:]), small_proxy.bodies[before:]
    wait_shown(alertmanager, second, 1000)
    stats = dispatcher.stats()["alertmanager"]
    assert (stats.sent, stats.failed, stats.alerts_sent, stats.alerts_failed) == (2, 0, 2000, 0)
    dispatcher.shutdown()
