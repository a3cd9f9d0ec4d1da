"""Optional ``/healthz`` and ``/readyz`` for Kubernetes probes of workers without a web server.

Liveness means the scheduler thread is running and ticking; readiness means
every check with ``readiness: true`` has a result and none of them is failing
(degraded is still ready: the service answers, only worse).
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from otelbundle.health.model import Status
from otelbundle.health.scheduler import Scheduler

_logger = logging.getLogger(__name__)


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


class HealthServer:
    def __init__(self, scheduler: Scheduler, host: str, port: int) -> None:
        self._server = ThreadingHTTPServer((host, port), _handler(scheduler))
        self._server.daemon_threads = True
        self.port = int(self._server.server_address[1])

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


def _handler(scheduler: Scheduler) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
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
            self.wfile.write(payload)

        def log_message(self, format: str, *args: Any) -> None:
            pass  # probes every few seconds would flood the app's logs

    return Handler
