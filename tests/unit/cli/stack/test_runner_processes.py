"""Which processes the runner takes for its own: a pid file can outlive its process (a
crash, a reboot) and its number be reused; a component can be alive but still starting.
Stand-in processes on free ports, no real backend."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from otelbundle.cli.stack.runner import Stack

ROOT = Path(__file__).resolve().parents[4]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def processes() -> Iterator[list[subprocess.Popen[bytes]]]:
    started: list[subprocess.Popen[bytes]] = []
    yield started
    for process in started:
        if process.poll() is None:
            process.kill()
        process.wait()


def otelbundle(*args: str, data_dir: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "otelbundle.cli", "stack", *args, "--config-root", str(ROOT)],
        env={**os.environ, "OTELBUNDLE_STACK_DIR": str(data_dir)},
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_a_stale_pid_file_whose_number_another_process_took_is_not_ours(
    tmp_path: Path, processes: list[subprocess.Popen[bytes]]
) -> None:
    """After a reboot or a crash, run/jaeger.pid names a pid that now belongs to someone
    else (here a `sleep` started elsewhere): status must not show it, down must not stop it."""
    data = tmp_path / "data"
    (data / "run").mkdir(parents=True)
    other = subprocess.Popen(["sleep", "60"], cwd=tmp_path)
    processes.append(other)
    (data / "run" / "jaeger.pid").write_text(str(other.pid))

    status = otelbundle("status", data_dir=data)
    jaeger = next(line for line in status.stdout.splitlines() if line.startswith("jaeger "))
    assert "not running" in jaeger and str(other.pid) not in jaeger, status.stdout

    down = otelbundle("down", data_dir=data)
    assert down.returncode == 0, down.stderr
    time.sleep(0.3)
    assert other.poll() is None, "stack down stopped a process the stack did not start"
    assert not (data / "run" / "jaeger.pid").exists()


def test_an_exited_component_not_yet_collected_is_not_running(
    tmp_path: Path, processes: list[subprocess.Popen[bytes]]
) -> None:
    """A killed component is a zombie until its parent collects it: not running."""
    data = tmp_path / "data"
    (data / "run").mkdir(parents=True)
    gone = subprocess.Popen(["true"], cwd=data)
    processes.append(gone)
    deadline = time.monotonic() + 5
    while Path(f"/proc/{gone.pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z":
        assert time.monotonic() < deadline
        time.sleep(0.01)
    (data / "run" / "alertmanager.pid").write_text(str(gone.pid))
    stack = Stack(data_dir=data, config_root=ROOT, env={}, say=lambda _: None)
    assert [s.running for s in stack.status() if s.name == "alertmanager"] == [False]
