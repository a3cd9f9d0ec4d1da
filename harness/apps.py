"""Run programs under ``opentelemetry-instrument`` as a user would, and stop them cleanly."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = ROOT / "examples"
BIN = Path(sys.executable).parent


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def clean_env(extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """The test process's environment minus any OTEL_*/OTELBUNDLE_* it happens to have."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OTEL_", "OTELBUNDLE_"))}
    env["PATH"] = f"{BIN}{os.pathsep}{env.get('PATH', '')}"
    env["PYTHONUNBUFFERED"] = "1"
    env.update(extra or {})
    return env


@dataclass
class Program:
    """A started subprocess with its combined output captured to a file."""

    args: list[str]
    process: subprocess.Popen[bytes]
    log_path: Path
    exit_code: int | None = None
    stopped_in: float | None = None
    _log: object = field(default=None, repr=False)

    @property
    def output(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def wait_http(self, url: str, timeout: float = 30.0) -> None:
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            if self.process.poll() is not None:
                raise AssertionError(f"{self.args} exited with {self.process.returncode}:\n{self.output}")
            try:
                with urllib.request.urlopen(url, timeout=1):
                    return
            except urllib.error.HTTPError:
                return
            except OSError:
                time.sleep(0.1)
        raise AssertionError(f"{url} did not answer within {timeout}s:\n{self.output}")

    def stop(self, timeout: float = 30.0) -> int:
        """SIGTERM the process group, wait, and record how long the exit took."""
        if self.process.poll() is None:
            started = time.monotonic()
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait()
            self.stopped_in = time.monotonic() - started
        self.exit_code = self.process.returncode
        close = getattr(self._log, "close", None)
        if close is not None:
            close()
        return self.exit_code


def start(
    args: Sequence[str],
    env: Mapping[str, str],
    log_dir: Path,
    *,
    instrument: bool = True,
    name: str = "program",
) -> Program:
    command = [str(BIN / "opentelemetry-instrument"), *args] if instrument else list(args)
    log_path = log_dir / f"{name}.log"
    log = open(log_path, "wb")  # noqa: SIM115 - closed when the process ends
    process = subprocess.Popen(
        command, env=dict(env), stdout=log, stderr=subprocess.STDOUT, cwd=str(ROOT), start_new_session=True
    )
    return Program(list(command), process, log_path, _log=log)


def run(
    args: Sequence[str], env: Mapping[str, str], *, instrument: bool = True, timeout: float = 60.0
) -> subprocess.CompletedProcess[str]:
    """Run to completion (for short scripts); output captured."""
    command = [str(BIN / "opentelemetry-instrument"), *args] if instrument else list(args)
    return subprocess.run(
        command, env=dict(env), capture_output=True, text=True, timeout=timeout, cwd=str(ROOT)
    )


def http_json(
    method: str, url: str, body: object | None = None, headers: Mapping[str, str] | None = None
) -> tuple[int, Any]:
    """(status, decoded JSON body or None) of one request; HTTP errors are results, not raises."""
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(url, data=data, method=method, headers=dict(headers or {}))
    if data is not None:
        request.add_header("Content-Type", "application/json")
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            status, payload = int(response.status), response.read()
    except urllib.error.HTTPError as exc:
        status, payload = int(exc.code), exc.read()
    try:
        return status, json.loads(payload) if payload else None
    except ValueError:
        return status, None


@dataclass
class Example:
    """One example service, started and answering ``/healthz``."""

    name: str
    program: Program
    url: str

    def stop(self) -> int:
        return self.program.stop()


def start_example(
    name: str,
    env: Mapping[str, str],
    log_dir: Path,
    *,
    python: str = sys.executable,
    workers: int = 0,
    instrument: bool = True,
) -> Example:
    """Start ``examples/<name>/app.py`` (``storefront`` or ``inventory``) on a free port.

    ``workers > 0`` runs it under ``gunicorn -w workers`` instead of Flask's threaded dev
    server. ``env`` is used as given (start from :func:`clean_env`); PORT and
    OTEL_SERVICE_NAME (unless set) are added. Output goes to ``log_dir/<name>.log``.
    """
    port = free_port()
    run_env = {"OTEL_SERVICE_NAME": name, **env, "PORT": str(port)}
    if workers > 0:
        args = [
            str(BIN / "gunicorn"),
            "-w",
            str(workers),
            "-b",
            f"127.0.0.1:{port}",
            f"examples.{name}.app:app",
        ]
    else:
        args = [python, str(EXAMPLES / name / "app.py")]
    program = start(args, run_env, log_dir, instrument=instrument, name=name)
    example = Example(name, program, f"http://127.0.0.1:{port}")
    try:
        program.wait_http(f"{example.url}/healthz")
    except AssertionError:
        program.stop()
        raise
    return example


@dataclass
class ExampleServices:
    """The storefront and inventory examples running under the wrapper."""

    storefront: Program
    inventory: Program
    storefront_url: str
    inventory_url: str

    def stop(self) -> None:
        try:
            self.storefront.stop()
        finally:
            self.inventory.stop()


def start_examples(
    env: Mapping[str, str], log_dir: Path, python: str = sys.executable, *, workers: int = 0
) -> ExampleServices:
    """Inventory (its database in ``log_dir``), then a storefront calling it; both healthy."""
    inventory = start_example(
        "inventory",
        {**env, "OTEL_SERVICE_NAME": "inventory", "INVENTORY_DB": str(log_dir / "inv.db")},
        log_dir,
        python=python,
        workers=workers,
    )
    try:
        storefront = start_example(
            "storefront",
            {**env, "OTEL_SERVICE_NAME": "storefront", "INVENTORY_URL": inventory.url},
            log_dir,
            python=python,
            workers=workers,
        )
    except AssertionError:
        inventory.stop()
        raise
    return ExampleServices(storefront.program, inventory.program, storefront.url, inventory.url)
