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
        # The port's place in the file is named: the port, not the file, is what to change.
        cfg = tmp_path / "otelbundle.yaml"
        assert (
            f"otelbundle: {cfg}:2:16: health endpoint 127.0.0.1:{listening} could not listen"
            " ([Errno 98] Address already in use); checks still run." in caplog.text
        ), caplog.text
    finally:
        instrumentor.uninstrument()


def test_a_host_this_machine_has_no_address_for_is_named_where_it_is_written(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    cfg = tmp_path / "otelbundle.yaml"
    cfg.write_text(  # 192.0.2.1: TEST-NET-1, never one of this machine's addresses
        "health:\n  http:\n    port: 8081\n    host: 192.0.2.1\n"
        "  checks:\n    - {name: disk, kind: system, resource: disk, critical: 100%}\n"
    )
    instrumentor = HealthInstrumentor()
    instrumentor.instrument(config_path=str(cfg))
    try:
        assert instrumentor.server is None
        assert instrumentor.scheduler is not None  # the checks still run
        assert f"otelbundle: {cfg}:4:11: health endpoint 192.0.2.1:8081 could not listen ([Errno 99]" in (
            caplog.text
        ), caplog.text
    finally:
        instrumentor.uninstrument()
