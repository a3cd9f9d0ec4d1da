"""A worker started as a new interpreter (uvicorn --workers/--reload, runserver's reloader)
finds the health port bound by the supervisor that started it: that is no error."""

from __future__ import annotations

import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from otelbundle.health.instrumentor import HealthInstrumentor

CHILD = """
import sys
from otelbundle.health.instrumentor import HealthInstrumentor
instrumentor = HealthInstrumentor()
instrumentor.instrument(config_path=sys.argv[1])
print("server:", instrumentor.server)
instrumentor.uninstrument()
"""


@pytest.fixture
def listening() -> Iterator[int]:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        yield int(sock.getsockname()[1])


def config(tmp_path: Path, port: int) -> Path:
    cfg = tmp_path / "otelbundle.yaml"
    cfg.write_text(
        f"health:\n  http: {{port: {port}}}\n"
        "  checks:\n    - {name: disk, kind: system, resource: disk, critical: 100%}\n"
    )
    return cfg


def test_a_worker_whose_parent_serves_the_port_says_nothing(tmp_path: Path, listening: int) -> None:
    child = subprocess.run(
        [sys.executable, "-c", CHILD, str(config(tmp_path, listening))],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert child.returncode == 0, child.stderr
    assert "server: None" in child.stdout
    assert "could not listen" not in child.stderr, child.stderr


def test_a_port_held_by_anyone_else_is_still_an_error(
    tmp_path: Path, listening: int, caplog: pytest.LogCaptureFixture
) -> None:
    instrumentor = HealthInstrumentor()
    instrumentor.instrument(config_path=str(config(tmp_path, listening)))
    try:
        assert instrumentor.server is None
        assert "could not listen ([Errno 98] Address already in use)" in caplog.text
    finally:
        instrumentor.uninstrument()
