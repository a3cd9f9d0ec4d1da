"""The sql kind against a real PostgreSQL from Debian's packages, started on loopback for the test.

Skipped (with the reason) when the server binaries or a Python driver are missing.
"""

from __future__ import annotations

import glob
import os
import shutil
import subprocess
import tempfile
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest

from otelbundle.health.model import Status
from otelbundle.health.scheduler import Scheduler
from otelbundle.health.section import load_health_config
from tests.harness.apps import free_port
from tests.integration.health.test_targets import Results

BIN = sorted(glob.glob("/usr/lib/postgresql/*/bin"))
pytestmark = pytest.mark.skipif(
    not BIN, reason="PostgreSQL server not installed (apt-get install postgresql)"
)


def _driver_missing() -> bool:
    import importlib.util

    return not any(importlib.util.find_spec(m) for m in ("psycopg", "psycopg2"))


def _as_postgres(args: list[str]) -> list[str]:
    """initdb refuses to run as root: drop to the postgres user when we are root."""
    if os.geteuid() == 0:
        return ["runuser", "-u", "postgres", "--", *args]
    return args


@pytest.fixture
def postgres() -> Iterator[tuple[int, str]]:
    if _driver_missing():
        pytest.skip("no PostgreSQL driver (pip install psycopg)")
    if os.geteuid() == 0 and shutil.which("runuser") is None:
        pytest.skip("running as root without runuser to start PostgreSQL as a normal user")
    bin_dir = BIN[-1]
    root = Path(tempfile.mkdtemp(prefix="otelbundle-pg-"))
    data = root / "data"
    if os.geteuid() == 0:
        shutil.chown(root, "postgres", "postgres")
    port = free_port()
    subprocess.run(
        _as_postgres([f"{bin_dir}/initdb", "-D", str(data), "-U", "health", "--auth=trust", "-E", "UTF8"]),
        check=True,
        capture_output=True,
    )
    options = f"-c listen_addresses=127.0.0.1 -c port={port} -c unix_socket_directories={root}"
    start = [f"{bin_dir}/pg_ctl", "-D", str(data), "-o", options, "-l", str(root / "log"), "-w", "start"]
    stop = [f"{bin_dir}/pg_ctl", "-D", str(data), "-m", "immediate", "-w", "stop"]
    subprocess.run(_as_postgres(start), check=True, capture_output=True)
    try:
        yield port, " ".join(stop)
    finally:
        subprocess.run(_as_postgres(stop), capture_output=True)
        shutil.rmtree(root, ignore_errors=True)


def test_postgres_answers_then_stops(
    tmp_path: Path, postgres: tuple[int, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    port, stop_command = postgres
    monkeypatch.setenv("HEALTH_PG_DSN", f"host=127.0.0.1 port={port} user=health dbname=postgres")
    config_file = tmp_path / "otelbundle.yaml"
    config_file.write_text(
        textwrap.dedent(
            """
            health:
              interval: 300ms
              timeout: 300ms
              checks:
                - {name: orders-db, kind: sql, driver: postgresql, dsn: "${env:HEALTH_PG_DSN}"}
            """
        )
    )
    config, problems = load_health_config(str(config_file))
    assert problems == [] and config is not None
    results = Results()
    scheduler = Scheduler(config.checks, results)
    scheduler.start()
    try:
        assert results.wait_for("orders-db", Status.HEALTHY).message == "postgresql answered 'SELECT 1'"
        subprocess.run(_as_postgres(stop_command.split()), check=True, capture_output=True)
        failing = results.wait_for("orders-db", Status.FAILING)
        assert failing.message.startswith("cannot connect (postgresql): ")
    finally:
        scheduler.stop()
