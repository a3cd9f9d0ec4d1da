"""Real receivers on loopback for the notifier tests (the HTTP sink is harness/http_sink.py): a real Alertmanager."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

AM_BINARY = "/usr/bin/prometheus-alertmanager"


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
