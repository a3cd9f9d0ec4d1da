"""Real receivers on loopback for the notifier tests: an HTTP sink, an SMTP server, a real Alertmanager."""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import threading
import time
import urllib.request
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

AM_BINARY = "/usr/bin/prometheus-alertmanager"


class Sink:
    """Records JSON POSTs; answers with the queued statuses (429 with Retry-After: 0), then 200."""

    def __init__(self) -> None:
        self.requests: list[tuple[str, dict[str, str], Any]] = []
        self.statuses: list[int] = []
        self.received = threading.Event()  # set on every request
        sink = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                sink.requests.append((self.path, dict(self.headers), body))
                status = sink.statuses.pop(0) if sink.statuses else 200
                self.send_response(status)
                if status == 429:
                    self.send_header("Retry-After", "0")
                self.send_header("Content-Length", "0")
                self.end_headers()
                sink.received.set()

            def log_message(self, *args: object) -> None:
                return

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"


@pytest.fixture
def sink() -> Iterator[Sink]:
    server = Sink()
    yield server
    server.server.shutdown()
    server.server.server_close()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _stop_system_alertmanager() -> None:
    """Debian starts a system Alertmanager on :9093 at install; it must not hold ports during tests."""
    if shutil.which("systemctl"):
        subprocess.run(
            ["systemctl", "disable", "--now", "prometheus-alertmanager"], capture_output=True, check=False
        )
    out = subprocess.run(
        ["pgrep", "-f", "^/usr/bin/prometheus-alertmanager( |$)"], capture_output=True, text=True
    )
    for pid in out.stdout.split():
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
        if b"--storage.path=/var/lib/prometheus/alertmanager" in cmdline or len(cmdline) <= 3:
            os.kill(int(pid), signal.SIGTERM)


def _ensure_binary() -> str | None:
    if os.access(AM_BINARY, os.X_OK):
        return AM_BINARY
    install = subprocess.run(
        ["apt-get", "install", "-y", "prometheus-alertmanager"], capture_output=True, text=True, check=False
    )
    _stop_system_alertmanager()
    if install.returncode != 0 or not os.access(AM_BINARY, os.X_OK):
        return None
    return AM_BINARY


@pytest.fixture(scope="session")
def alertmanager() -> Iterator[str]:
    """A real Alertmanager on 127.0.0.1 (clustering off, temp storage); yields its base URL."""
    binary = _ensure_binary()
    if binary is None:
        pytest.skip(f"{AM_BINARY} missing and `apt-get install -y prometheus-alertmanager` failed")
    workdir = Path(tempfile.mkdtemp(prefix="otelbundle-am-"))
    config = workdir / "alertmanager.yml"
    # The smallest valid config: one receiver that notifies nothing; we only read /api/v2/alerts.
    config.write_text("route:\n  receiver: blackhole\nreceivers:\n  - name: blackhole\n")
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    log = open(workdir / "am.log", "wb")  # noqa: SIM115 - closed after the process ends
    process = subprocess.Popen(
        [
            binary,
            f"--config.file={config}",
            f"--storage.path={workdir / 'data'}",
            f"--web.listen-address=127.0.0.1:{port}",
            "--cluster.listen-address=",
        ],
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    deadline = time.monotonic() + 30
    while True:
        try:
            with urllib.request.urlopen(f"{url}/-/ready", timeout=1) as response:
                if response.status == 200:
                    break
        except OSError:
            pass
        if process.poll() is not None or time.monotonic() > deadline:
            process.kill()
            raise RuntimeError(f"alertmanager did not start: {(workdir / 'am.log').read_text()[-2000:]}")
        time.sleep(0.2)
    yield url
    process.terminate()
    try:
        process.wait(10)
    except subprocess.TimeoutExpired:
        process.kill()
    log.close()
    shutil.rmtree(workdir, ignore_errors=True)
