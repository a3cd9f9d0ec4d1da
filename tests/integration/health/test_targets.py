"""Checks from a real otelbundle.yaml against real local targets, run by the real scheduler."""

from __future__ import annotations

import socket
import sqlite3
import textwrap
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from otelbundle.health.model import CheckResult, Status
from otelbundle.health.scheduler import Scheduler
from otelbundle.health.section import load_health_config
from tests.integration.health import checks_for_tests


class Results:
    def __init__(self) -> None:
        self.items: list[CheckResult] = []
        self.changed = threading.Condition()

    def __call__(self, result: CheckResult) -> None:
        with self.changed:
            self.items.append(result)
            self.changed.notify_all()

    def wait_for(
        self, name: str, status: Status, timeout: float = 15.0, message: str | None = None
    ) -> CheckResult:
        """The newest result of ``name`` with ``status`` (and ``message``, when given: on a loaded
        machine a run may first time out at 150 ms, a result of its own, before one answers)."""

        def found() -> CheckResult | None:
            return next(
                (
                    r
                    for r in reversed(self.items)
                    if r.name == name and r.status is status and message in (None, r.message)
                ),
                None,
            )

        with self.changed:
            assert self.changed.wait_for(found, timeout), f"{name} never {status}: {self.items}"
            result = found()
            assert result is not None
            return result


@pytest.fixture
def http_target() -> Iterator[str]:
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            code, body = {"/ok": (200, b"status: ok"), "/busy": (200, b"status: busy")}.get(
                self.path, (503, b"")
            )
            self.send_response(code)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def start(tmp_path: Path, checks_yaml: str) -> tuple[Scheduler, Results]:
    path = tmp_path / "otelbundle.yaml"
    path.write_text(
        "health:\n  interval: 200ms\n  timeout: 150ms\n  checks:\n"
        + textwrap.indent(textwrap.dedent(checks_yaml), "    ")
    )
    config, problems = load_health_config(str(path))
    assert problems == [] and config is not None
    results = Results()
    scheduler = Scheduler(config.checks, results)
    scheduler.start()
    return scheduler, results


def test_tcp_listener_open_then_closed(tmp_path: Path) -> None:
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen()
    port = listener.getsockname()[1]
    scheduler, results = start(tmp_path, f"- {{name: cache, kind: tcp, host: 127.0.0.1, port: {port}}}\n")
    try:
        assert results.wait_for("cache", Status.HEALTHY).message == f"connected to 127.0.0.1:{port}"
        listener.close()
        failing = results.wait_for("cache", Status.FAILING)
        assert failing.message.startswith(f"cannot connect to 127.0.0.1:{port}: ")
        assert "refused" in failing.message.lower()
    finally:
        scheduler.stop()
        listener.close()


def test_http_status_and_body(tmp_path: Path, http_target: str) -> None:
    scheduler, results = start(
        tmp_path,
        f"""
        - {{name: up, kind: http, url: "{http_target}/ok", body_contains: "status: ok"}}
        - {{name: wrong-body, kind: http, url: "{http_target}/busy", body_contains: "status: ok"}}
        - {{name: down, kind: http, url: "{http_target}/missing"}}
        - {{name: down-expected, kind: http, url: "{http_target}/missing", expect_status: 503}}
        """,
    )
    try:
        assert results.wait_for("up", Status.HEALTHY).message == f"{http_target}/ok answered 200"
        results.wait_for(
            "wrong-body", Status.FAILING, message=f"{http_target}/busy answered 200 without 'status: ok'"
        )
        results.wait_for("down", Status.FAILING, message=f"{http_target}/missing answered 503, expected 200")
        results.wait_for("down-expected", Status.HEALTHY)
    finally:
        scheduler.stop()


def test_sqlite_file_present_then_table_dropped(tmp_path: Path) -> None:
    db = tmp_path / "inventory.db"
    with sqlite3.connect(db) as connection:
        connection.execute("CREATE TABLE items (sku TEXT)")
    scheduler, results = start(
        tmp_path,
        f'- {{name: db, kind: sql, driver: sqlite3, dsn: "{db}", query: "SELECT count(*) FROM items"}}\n',
    )
    try:
        results.wait_for("db", Status.HEALTHY)
        with sqlite3.connect(db) as connection:
            connection.execute("DROP TABLE items")
        assert "no such table: items" in results.wait_for("db", Status.FAILING).message
    finally:
        scheduler.stop()


def test_hung_and_raising_checks_do_not_block_the_others(tmp_path: Path, http_target: str) -> None:
    module = checks_for_tests.__name__
    checks_for_tests.release.clear()
    scheduler, results = start(
        tmp_path,
        f"""
        - {{name: hangs, kind: python, function: "{module}:hangs"}}
        - {{name: raises, kind: python, function: "{module}:raises"}}
        - {{name: degraded, kind: python, function: "{module}:degraded"}}
        - {{name: up, kind: http, url: "{http_target}/ok"}}
        """,
    )
    try:
        results.wait_for("hangs", Status.FAILING, message="timed out after 0.15s")
        results.wait_for(
            "raises", Status.FAILING, message="check raised RuntimeError: payment provider misconfigured"
        )
        assert results.wait_for("degraded", Status.DEGRADED).message == "queue 85% full"
        # While `hangs` is stuck, `up` keeps running: several fresh results arrive.
        with results.changed:
            assert results.changed.wait_for(lambda: sum(r.name == "up" for r in results.items) >= 3, 15)
        with results.changed:
            assert results.changed.wait_for(lambda: scheduler.skipped()["hangs"] >= 1, 15)
        # ... and each skipped run is a failing result of its own, so an alert on it keeps firing.
        with results.changed:
            assert results.changed.wait_for(
                lambda: any(
                    r.name == "hangs"
                    and r.status is Status.FAILING
                    and r.message.startswith("timed out after 0.15s; still not returned after ")
                    for r in results.items
                ),
                15,
            ), results.items
        assert threading.active_count() < 40
    finally:
        checks_for_tests.release.set()
        scheduler.stop()


def test_an_http_check_that_cannot_connect_names_its_own_method() -> None:
    from otelbundle.health.checks import CheckSpec
    from otelbundle.health.http_check import HttpCheck

    with socket.socket() as unused:  # a port nothing listens on
        unused.bind(("127.0.0.1", 0))
        port = unused.getsockname()[1]
    check = HttpCheck(CheckSpec("inv", "http", 10, 1), f"http://127.0.0.1:{port}/healthz", method="HEAD")
    verdict = check.run(None)
    assert verdict.status is Status.FAILING
    assert verdict.message.startswith(f"HEAD http://127.0.0.1:{port}/healthz failed: ")


def test_an_http_check_sends_its_headers_only_to_the_host_they_were_written_for() -> None:
    """urllib keeps every header across redirects: a Bearer token went to the host a redirect named."""
    from otelbundle.health.checks import CheckSpec
    from otelbundle.health.http_check import HttpCheck

    received: dict[str, dict[str, str]] = {}

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            received[f"{self.server.server_address[1]}{self.path}"] = {  # type: ignore[index]
                k.lower(): v for k, v in self.headers.items() if k.lower() in ("authorization", "x-api-key")
            }
            target = redirects.get(self.path)
            self.send_response(302 if target else 200)
            if target:
                self.send_header("Location", target)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args: Any) -> None:
            return

    servers = [ThreadingHTTPServer(("127.0.0.1", 0), Handler) for _ in range(2)]
    for server in servers:
        threading.Thread(target=server.serve_forever, daemon=True).start()
    here, other = (server.server_address[1] for server in servers)
    redirects = {"/healthz": "/moved", "/moved": f"http://localhost:{other}/login"}
    try:
        headers = {"Authorization": "Bearer s3cr3t", "X-Api-Key": "k"}
        verdict = HttpCheck(
            CheckSpec("inv", "http", 10, 2), f"http://127.0.0.1:{here}/healthz", headers=headers
        ).run(None)
    finally:
        for server in servers:
            server.shutdown()
            server.server_close()
    assert verdict.status is Status.HEALTHY
    sent = {"authorization": "Bearer s3cr3t", "x-api-key": "k"}
    assert received == {f"{here}/healthz": sent, f"{here}/moved": sent, f"{other}/login": {}}


def test_credentials_in_an_http_check_url_are_sent_as_basic_auth_and_never_shown() -> None:
    """urllib took ``user:pass@`` for part of the host name: the check never worked, and its
    message (exported as health.message, logged, served on /readyz) carried the password."""
    import base64

    from otelbundle.health.checks import CheckSpec
    from otelbundle.health.http_check import HttpCheck

    seen: list[str | None] = []

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            seen.append(self.headers.get("Authorization"))
            good = "Basic " + base64.b64encode(b"probe:p@ss w0rd").decode()
            self.send_response(200 if self.headers.get("Authorization") == good else 401)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args: Any) -> None:
            return

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    port = server.server_address[1]
    try:
        ok = HttpCheck(
            CheckSpec("inv", "http", 10, 2),
            f"http://probe:p%40ss%20w0rd@127.0.0.1:{port}/healthz?token=t0k3n",
        ).run(None)
        wrong = HttpCheck(CheckSpec("inv", "http", 10, 2), f"http://probe:n0pe@127.0.0.1:{port}/healthz").run(
            None
        )
    finally:
        server.shutdown()
        server.server_close()
    with socket.socket() as unused:
        unused.bind(("127.0.0.1", 0))
        closed = unused.getsockname()[1]
    refused = HttpCheck(
        CheckSpec("inv", "http", 10, 2), f"http://probe:n0pe@127.0.0.1:{closed}/?k=t0k3n"
    ).run(None)
    assert ok.status is Status.HEALTHY, ok
    assert ok.message == f"http://127.0.0.1:{port}/healthz?token=*** answered 200"
    assert wrong.message == f"http://127.0.0.1:{port}/healthz answered 401, expected 200"
    assert refused.status is Status.FAILING and refused.message.startswith(
        f"GET http://127.0.0.1:{closed}/?k=*** failed"
    )
    for verdict in (ok, wrong, refused):
        assert not any(secret in verdict.message for secret in ("p@ss", "p%40ss", "n0pe", "t0k3n", "probe:"))


def test_an_http_server_dripping_its_answer_is_cut_at_each_timeout_and_threads_stay_bounded(
    tmp_path: Path,
) -> None:
    """The socket timeout holds per read: a byte every 50 ms kept the worker (and so the check,
    every later run skipped as hung) for ever, even after the server recovered."""
    recovered = threading.Event()
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen()

    def serve(conn: socket.socket) -> None:
        with conn:
            try:
                conn.recv(65536)
                if recovered.is_set():
                    conn.sendall(b"HTTP/1.0 200 OK\r\nContent-Length: 0\r\n\r\n")
                    return
                conn.sendall(b"HTTP/1.0 200 OK\r\n")
                while not recovered.wait(0.05):
                    conn.sendall(b"X: y\r\n")  # headers that never end
            except OSError:
                pass

    def accept() -> None:
        while True:
            try:
                conn, _ = listener.accept()
            except OSError:
                return
            threading.Thread(target=serve, args=(conn,), daemon=True).start()

    threading.Thread(target=accept, daemon=True).start()
    port = listener.getsockname()[1]
    scheduler, results = start(tmp_path, f'- {{name: drip, kind: http, url: "http://127.0.0.1:{port}/"}}\n')
    try:
        with results.changed:
            assert results.changed.wait_for(
                lambda: sum(r.message == "timed out after 0.15s" for r in results.items) >= 20, 30
            ), results.items
        workers = [t for t in threading.enumerate() if t.name == "otelbundle-health-drip"]
        assert len(workers) <= 1
        recovered.set()
        assert results.wait_for("drip", Status.HEALTHY).message == f"http://127.0.0.1:{port}/ answered 200"
    finally:
        recovered.set()
        scheduler.stop()
        listener.close()


def test_a_redirect_loop_is_named_as_such() -> None:
    """It was reported as "answered 302, expected 200", as if the server had answered 302 once."""
    from otelbundle.health.checks import CheckSpec
    from otelbundle.health.http_check import HttpCheck

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(302)
            self.send_header("Location", "/b" if self.path == "/a" else "/a")
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args: Any) -> None:
            return

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{server.server_address[1]}/a"
    try:
        verdict = HttpCheck(CheckSpec("loop", "http", 10, 5), url, expect_status=(200, 302)).run(None)
    finally:
        server.shutdown()
        server.server_close()
    assert (verdict.status, verdict.message) == (
        Status.FAILING,
        f"{url} redirects in a loop (or more than 10 times)",
    )
