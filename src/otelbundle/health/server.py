"""Optional ``/healthz`` and ``/readyz`` for Kubernetes probes of workers without a web server.

Liveness means the scheduler thread is running and ticking; readiness means
every check with ``readiness: true`` has a result and none of them is failing
(degraded is still ready: the service answers, only worse).

The server is bounded: at most :data:`MAX_CONNECTIONS` connections are served at
once (one thread each), a connection beyond them is closed at once and counted
(``refused``), and a connection that has not sent a complete request is closed after
:data:`IDLE_TIMEOUT_S`. A probe answers in microseconds, so neither limit
touches a kubelet; they keep idle or slow clients from piling up threads in the
application's process.
"""

from __future__ import annotations

import io
import json
import logging
import socket
import threading
import time
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from otelbundle.config.report import warn_seen
from otelbundle.health.model import Status
from otelbundle.health.scheduler import Scheduler

_logger = logging.getLogger(__name__)
MAX_CONNECTIONS = 16
IDLE_TIMEOUT_S = 5.0


def listening_ancestor(port: int, generations: int = 3) -> int | None:
    """The pid of the parent (or its parent...) process listening on TCP ``port``, if one is.

    Servers that start their workers as new interpreters (uvicorn ``--workers`` and
    ``--reload``, Django's autoreloading ``runserver``) run ``opentelemetry-instrument``'s
    start-up in the supervisor and again in every worker; the supervisor binds the
    health port first. Never raises: None when it cannot tell.
    """
    try:
        import psutil

        process = psutil.Process().parent()
        for _ in range(generations):
            if process is None:
                return None
            for conn in process.net_connections(kind="tcp"):
                if conn.status == psutil.CONN_LISTEN and conn.laddr and conn.laddr.port == port:
                    return int(process.pid)
            process = process.parent()
    except Exception:
        return None
    return None


def readiness(scheduler: Scheduler) -> tuple[bool, dict[str, Any]]:
    results = {r.name: r for r in scheduler.results()}
    checks: dict[str, Any] = {}
    ready = True
    for name in scheduler.readiness_checks():
        result = results.get(name)
        if result is None:
            checks[name] = {"status": "unknown", "message": "no result yet"}
            ready = False
            continue
        checks[name] = {"status": result.status.label, "message": result.message}
        ready = ready and result.status is not Status.FAILING
    return ready, {"status": "ready" if ready else "not ready", "checks": checks}


def liveness(
    scheduler: Scheduler, clock: Callable[[], float] = time.monotonic
) -> tuple[bool, dict[str, Any]]:
    # The loop wakes at least once a second; 10 s without a tick means it is stuck.
    alive = scheduler.alive() and clock() - scheduler.last_tick < 10.0
    return alive, {"status": "alive" if alive else "scheduler not running"}


class _BoundedServer(ThreadingHTTPServer):
    """A thread per connection, at most ``max_connections`` of them; more are closed and counted."""

    daemon_threads = True

    def __init__(
        self, address: tuple[str, int], handler: type[BaseHTTPRequestHandler], max_connections: int
    ) -> None:
        # The host's own family: `::` or `::1` (IPv6-only pods) cannot be bound by an AF_INET socket.
        self.address_family = socket.getaddrinfo(*address, type=socket.SOCK_STREAM)[0][0]
        super().__init__(address, handler)
        self._slots = threading.BoundedSemaphore(max_connections)
        self._max = max_connections
        self.refused = 0

    def process_request(self, request: Any, client_address: Any) -> None:
        if not self._slots.acquire(blocking=False):
            self.refused += 1
            if self.refused == 1:
                warn_seen(
                    _logger,
                    "otelbundle: the health endpoint is serving %d connections; further ones are "
                    "closed unanswered until they end (counted, said once)",
                    self._max,
                )
            self.shutdown_request(request)
            return
        try:
            super().process_request(request, client_address)
        except BaseException:  # the thread did not start: its slot is free again
            self._slots.release()
            raise

    def process_request_thread(self, request: Any, client_address: Any) -> None:
        try:
            super().process_request_thread(request, client_address)
        finally:
            self._slots.release()

    def handle_error(self, request: Any, client_address: Any) -> None:
        # A probe that hangs up mid-answer is no news for the application's stderr.
        _logger.debug("health endpoint: a request from %s failed", client_address, exc_info=True)


class HealthServer:
    def __init__(
        self,
        scheduler: Scheduler,
        host: str,
        port: int,
        *,
        max_connections: int = MAX_CONNECTIONS,
        idle_timeout_s: float = IDLE_TIMEOUT_S,
    ) -> None:
        self._server = _BoundedServer((host, port), _handler(scheduler, idle_timeout_s), max_connections)
        self.port = int(self._server.server_address[1])

    @property
    def refused(self) -> int:
        """Connections closed unanswered because MAX_CONNECTIONS were being served."""
        return self._server.refused

    def start(self) -> None:
        threading.Thread(
            target=self._server.serve_forever, name="otelbundle-health-http", daemon=True
        ).start()

    def close_inherited(self) -> None:
        """In a fork child: close the copy of the parent's listening socket (no thread serves it here)."""
        self._server.server_close()

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()


def _handler(scheduler: Scheduler, idle_timeout_s: float) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        timeout = idle_timeout_s  # a client that sends nothing does not hold its thread for ever

        def setup(self) -> None:
            super().setup()
            # The socket timeout holds for each read only: a client dripping a byte now and
            # then (slowloris) kept its thread for ever, and 16 of them kept out every probe.
            self.rfile = io.BufferedReader(_ReadsUntil(self.connection, time.monotonic() + idle_timeout_s))

        def do_HEAD(self) -> None:
            self.do_GET()

        def do_GET(self) -> None:
            path = self.path.split("?", 1)[0]
            if path == "/healthz":
                ok, body = liveness(scheduler)
            elif path == "/readyz":
                ok, body = readiness(scheduler)
            else:
                self._send(404, {"error": "use /healthz or /readyz"})
                return
            self._send(200 if ok else 503, body)

        def _send(self, code: int, body: dict[str, Any]) -> None:
            payload = json.dumps(body).encode()
            self.send_response(code)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(payload)

        def log_message(self, format: str, *args: Any) -> None:
            pass  # probes every few seconds would flood the app's logs

    return Handler


class _ReadsUntil(io.RawIOBase):
    """Reads a socket until an absolute deadline: the whole request must arrive by then."""

    def __init__(self, connection: socket.socket, deadline: float) -> None:
        super().__init__()
        self._connection, self._deadline = connection, deadline

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        remaining = self._deadline - time.monotonic()
        if remaining <= 0:
            raise TimeoutError("no complete request within the idle timeout")
        self._connection.settimeout(remaining)
        return self._connection.recv_into(buffer)
