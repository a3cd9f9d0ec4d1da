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

from harness.apps import free_port
from otelbundle.health.model import CheckResult, Status
from otelbundle.health.scheduler import Scheduler
from otelbundle.health.section import load_health_config
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


REFUSED = "cannot connect (postgresql): "


# Bounds from what is tested, not from the machine. The check's timeout only has to outlast
# one connection to a local server (psycopg's first import and a forked PostgreSQL backend
# took over the former 0.3 s under load); 5 s is the most the test can wait for a run (the
# run after the stop comes at most one interval later). A stopped server refuses at once,
# whatever the timeout. The failure looked for is a refused connection reported after the
# stop: not an earlier failure, and not the "query failed" of a run the stop cut short.
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
              interval: 5s
              timeout: 5s
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
        assert (
            results.wait_for("orders-db", Status.HEALTHY, timeout=20).message
            == "postgresql answered 'SELECT 1'"
        )
        with results.changed:
            stopped_after = len(results.items)
        subprocess.run(_as_postgres(stop_command.split()), check=True, capture_output=True)

        def refused_since_the_stop() -> CheckResult | None:
            later = results.items[stopped_after:]
            return next(
                (r for r in later if r.status is Status.FAILING and r.message.startswith(REFUSED)), None
            )

        with results.changed:
            assert results.changed.wait_for(refused_since_the_stop, 20), f"never refused: {results.items}"
    finally:
        scheduler.stop()


def test_a_postgres_query_still_running_at_the_timeout_is_cancelled_and_the_check_runs_again(
    tmp_path: Path, postgres: tuple[int, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The worker waited for pg_sleep (a lock wait, in life) to end: the first run was reported
    timed out, and every later run was skipped as hung for as long as the query ran."""
    port, _ = postgres
    monkeypatch.setenv("HEALTH_PG_DSN", f"host=127.0.0.1 port={port} user=health dbname=postgres")
    config_file = tmp_path / "otelbundle.yaml"
    config_file.write_text(
        textwrap.dedent(
            """
            health:
              checks:
                - {name: stuck-db, kind: sql, driver: postgresql, dsn: "${env:HEALTH_PG_DSN}",
                   query: "SELECT pg_sleep(3600)", interval: 2s, timeout: 2s}
            """
        )
    )
    config, problems = load_health_config(str(config_file))
    assert problems == [] and config is not None
    results = Results()
    scheduler = Scheduler(config.checks, results)
    scheduler.start()
    try:
        with results.changed:
            assert results.changed.wait_for(
                lambda: sum(r.status is Status.FAILING for r in results.items) >= 3, 60
            ), results.items
    finally:
        scheduler.stop()


def test_a_postgres_query_returning_many_rows_stops_after_its_first_row(postgres: tuple[int, str]) -> None:
    """fetchall() had the server produce, and the client hold, every row of the check's query
    (a SELECT on a big table, every run). Each row produced here takes a number from a
    sequence: the rows the server made are counted, not timed."""
    import psycopg

    from otelbundle.health.checks import CheckSpec
    from otelbundle.health.sql_check import SqlCheck

    port, _ = postgres
    dsn = f"host=127.0.0.1 port={port} user=health dbname=postgres"
    with psycopg.connect(dsn, autocommit=True) as admin:
        admin.execute("CREATE SEQUENCE health_rows")
        check = SqlCheck(
            CheckSpec("rows", "sql", interval_s=30, timeout_s=30),
            "postgresql",
            dsn,
            "SELECT nextval('health_rows') FROM generate_series(1, 1000000)",
        )
        assert check.run(None).status is Status.HEALTHY
        assert check.run(None).status is Status.HEALTHY  # the cancelled rest left nothing behind
        row = admin.execute("SELECT last_value FROM health_rows").fetchone()
    assert row is not None
    produced = row[0]
    assert produced < 100_000, f"the server produced {produced} rows for two runs"
