"""The /healthz server keeps its threads bounded: idle clients are timed out, excess ones refused."""

from __future__ import annotations

import json
import socket
import threading
import time
import urllib.error
import urllib.request

import pytest

from otelbundle.health.checks import CheckSpec
from otelbundle.health.model import Status, Verdict
from otelbundle.health.scheduler import Scheduler
from otelbundle.health.server import HealthServer


class _Ok:
    spec = CheckSpec("ok", "python", interval_s=10, timeout_s=1)

    def run(self, previous: Status | None) -> Verdict:
        return Verdict(Status.HEALTHY, "fine")


def _server(**kwargs: float) -> tuple[HealthServer, Scheduler]:
    scheduler = Scheduler([_Ok()], lambda result: None)
    server = HealthServer(scheduler, "127.0.0.1", 0, **kwargs)  # type: ignore[arg-type]
    server.start()
    return server, scheduler


def _closed_by_server(sock: socket.socket, within: float) -> bool:
    sock.settimeout(within)
    try:
        return sock.recv(1) == b""
    except TimeoutError:
        return False
    except ConnectionResetError:
        return True


def test_a_client_that_sends_nothing_is_closed_after_the_idle_timeout() -> None:
    server, _ = _server(idle_timeout_s=0.3)
    try:
        idle = socket.create_connection(("127.0.0.1", server.port))
        assert _closed_by_server(idle, within=5.0)
        idle.close()
    finally:
        server.stop()


def test_idle_connections_beyond_the_limit_are_refused_not_given_threads() -> None:
    server, _ = _server(max_connections=3, idle_timeout_s=30)
    threads_before = threading.active_count()
    idle = [socket.create_connection(("127.0.0.1", server.port)) for _ in range(20)]
    try:
        deadline = time.monotonic() + 5
        while server.refused < 17 and time.monotonic() < deadline:
            time.sleep(0.02)
        assert server.refused == 17
        assert threading.active_count() - threads_before <= 3
        assert sum(_closed_by_server(sock, within=0.5) for sock in idle) == 17
    finally:
        for sock in idle:
            sock.close()
    # Once the idle clients are gone their slots are free: the next probe is answered.
    deadline = time.monotonic() + 5
    while True:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{server.port}/readyz", timeout=2) as response:
                body = json.loads(response.read())
            break
        except urllib.error.HTTPError as exc:  # 503: no result yet (the scheduler is not started)
            body = json.loads(exc.read())
            break
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.05)
    server.stop()
    assert body["status"] == "not ready" and body["checks"]["ok"]["status"] == "unknown"


def test_an_ipv6_host_is_bound() -> None:
    """`host: "::1"` (or `::` in an IPv6-only pod) failed: the server's socket was always AF_INET."""
    if not socket.has_ipv6:
        return
    scheduler = Scheduler([_Ok()], lambda result: None)
    try:
        server = HealthServer(scheduler, "::1", 0)
    except OSError as exc:  # no IPv6 loopback on this machine at all
        if exc.errno in (99, 97):  # EADDRNOTAVAIL, EAFNOSUPPORT
            return
        raise
    server.start()
    try:
        with socket.create_connection(("::1", server.port), timeout=5) as sock:
            sock.sendall(b"GET /healthz HTTP/1.0\r\n\r\n")
            answer = sock.recv(100)
        assert answer.startswith(b"HTTP/1.0 503")  # the scheduler is not started: not alive
    finally:
        server.stop()


def test_a_client_dripping_its_request_is_closed_at_the_idle_timeout_not_kept_for_ever() -> None:
    """The timeout held for each read only: a byte every 50 ms kept the thread for ever,
    and MAX_CONNECTIONS such clients kept every kubelet probe out."""
    server, _ = _server(idle_timeout_s=0.3)
    drip = socket.create_connection(("127.0.0.1", server.port))
    try:
        drip.sendall(b"GET /healthz HTTP/1.1\r\nX-Slow: ")
        closed = False
        deadline = time.monotonic() + 15  # fifty idle timeouts
        while not closed and time.monotonic() < deadline:
            try:
                drip.sendall(b"z")  # one long header line: no header-count limit ends it
            except OSError:  # reset by the server
                closed = True
            closed = closed or _closed_by_server(drip, within=0.05)
        assert closed
    finally:
        drip.close()
        server.stop()


def test_head_is_answered_like_get_without_a_body_and_other_methods_are_refused() -> None:
    server, _ = _server()
    url = f"http://127.0.0.1:{server.port}/readyz"
    try:
        with pytest.raises(urllib.error.HTTPError) as head:  # 503: no result yet
            urllib.request.urlopen(urllib.request.Request(url, method="HEAD"), timeout=5)
        assert head.value.code == 503 and head.value.read() == b""
        assert int(head.value.headers["Content-Length"]) > 0
        for method in ("POST", "PUT", "DELETE"):
            with pytest.raises(urllib.error.HTTPError) as other:
                urllib.request.urlopen(urllib.request.Request(url, method=method, data=b""), timeout=5)
            assert other.value.code == 501
    finally:
        server.stop()
