"""Run programs under ``opentelemetry-instrument`` as a user would, and stop them cleanly."""

from __future__ import annotations

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

ROOT = Path(__file__).resolve().parents[2]
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


@dataclass
class ExampleServices:
    """The storefront and inventory examples running under the wrapper."""

    storefront: Program
    inventory: Program
    storefront_url: str
    inventory_url: str

    def stop(self) -> None:
        self.storefront.stop()
        self.inventory.stop()


def start_examples(env: Mapping[str, str], log_dir: Path, python: str = sys.executable) -> ExampleServices:
    inventory_port, storefront_port = free_port(), free_port()
    inventory_url = f"http://127.0.0.1:{inventory_port}"
    inventory = start(
        [python, str(EXAMPLES / "inventory" / "app.py")],
        {
            **env,
            "PORT": str(inventory_port),
            "OTEL_SERVICE_NAME": "inventory",
            "INVENTORY_DB": str(log_dir / "inv.db"),
        },
        log_dir,
        name="inventory",
    )
    storefront = start(
        [python, str(EXAMPLES / "storefront" / "app.py")],
        {
            **env,
            "PORT": str(storefront_port),
            "OTEL_SERVICE_NAME": "storefront",
            "INVENTORY_URL": inventory_url,
        },
        log_dir,
        name="storefront",
    )
    services = ExampleServices(storefront, inventory, f"http://127.0.0.1:{storefront_port}", inventory_url)
    try:
        inventory.wait_http(f"{inventory_url}/healthz")
        storefront.wait_http(f"{services.storefront_url}/healthz")
    except AssertionError:
        services.stop()
        raise
    return services
