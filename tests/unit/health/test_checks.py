"""Every kind's logic with injected inputs (no network: see tests/integration/health)."""

from __future__ import annotations

import sys
import types
from collections.abc import Iterator

import pytest

from otelbundle.health.checks import CheckSpec, PythonCheck, SystemCheck
from otelbundle.health.model import Status, Thresholds, Verdict
from otelbundle.health.sql_check import SqlCheck


class FakeReader:
    def __init__(self) -> None:
        self.cpu, self.memory, self.disks = 0.0, 0.0, {"/": 0.0}
        self.disk_paths: list[str] = []

    def cpu_percent(self) -> float:
        return self.cpu

    def memory_percent(self) -> float:
        return self.memory

    def disk_percent(self, path: str) -> float:
        self.disk_paths.append(path)
        return self.disks[path]


def spec(kind: str) -> CheckSpec:
    return CheckSpec(name="c", kind=kind, interval_s=10, timeout_s=1)


def test_system_cpu_hysteresis_through_the_check() -> None:
    reader = FakeReader()
    check = SystemCheck(spec("system"), "cpu", Thresholds(80, 95, 5), reader=reader)
    previous = None
    seen = []
    for value in (50, 82, 78, 96, 92, 89, 70):
        reader.cpu = value
        verdict = check.run(previous)
        previous = verdict.status
        seen.append((verdict.status, verdict.message))
    assert seen == [
        (Status.HEALTHY, "CPU at 50.0%"),
        (Status.DEGRADED, "CPU at 82.0% (warning at 80%)"),
        (Status.DEGRADED, "CPU at 78.0% (warning at 80%)"),
        (Status.FAILING, "CPU at 96.0% (critical at 95%)"),
        (Status.FAILING, "CPU at 92.0% (critical at 95%)"),
        (Status.DEGRADED, "CPU at 89.0% (warning at 80%)"),
        (Status.HEALTHY, "CPU at 70.0%"),
    ]


def test_system_memory_and_disk_per_mount() -> None:
    reader = FakeReader()
    reader.memory = 91
    reader.disks = {"/": 10.0, "/data": 97.0}
    memory = SystemCheck(spec("system"), "memory", Thresholds(85, None), reader=reader)
    assert memory.run(None).status is Status.DEGRADED
    root = SystemCheck(spec("system"), "disk", Thresholds(80, 95), path="/", reader=reader)
    data = SystemCheck(spec("system"), "disk", Thresholds(80, 95), path="/data", reader=reader)
    assert root.run(None).status is Status.HEALTHY
    verdict = data.run(None)
    assert (verdict.status, verdict.message) == (Status.FAILING, "disk /data at 97.0% (critical at 95%)")
    assert reader.disk_paths == ["/", "/data"]


def test_system_check_with_real_psutil_reads_plausible_values() -> None:
    check = SystemCheck(spec("system"), "disk", Thresholds(100, None), path="/")
    verdict = check.run(None)
    assert verdict.value is not None and 0 <= verdict.value <= 100
    assert verdict.message.startswith("disk / at ")


@pytest.fixture
def custom_module() -> Iterator[types.ModuleType]:
    module = types.ModuleType("health_custom_checks")
    module.good = lambda: ("ok", "all fine")  # type: ignore[attr-defined]
    module.not_callable = 3  # type: ignore[attr-defined]
    sys.modules[module.__name__] = module
    yield module
    del sys.modules[module.__name__]


def test_python_check_calls_module_function(custom_module: types.ModuleType) -> None:
    verdict = PythonCheck(spec("python"), "health_custom_checks:good").run(None)
    assert (verdict.status, verdict.message) == (Status.HEALTHY, "all fine")


def test_python_check_missing_function_names_the_config_position(custom_module: types.ModuleType) -> None:
    check = PythonCheck(spec("python"), "health_custom_checks:not_callable", where="cfg.yaml:4:17")
    assert check.run(None) == Verdict(
        Status.FAILING,
        "cfg.yaml:4:17: health check 'c': cannot import health_custom_checks:not_callable: "
        "LookupError: module 'health_custom_checks' has no callable 'not_callable'",
    )


def test_sql_sqlite_missing_file_fails_rather_than_creating_it(tmp_path: pytest.TempPathFactory) -> None:
    missing = f"{tmp_path}/nope.db"
    verdict = SqlCheck(spec("sql"), "sqlite3", missing).run(None)
    assert verdict.status is Status.FAILING
    assert "cannot connect (sqlite3)" in verdict.message
    import os

    assert not os.path.exists(missing)


def test_sql_bad_query_is_failing(tmp_path: pytest.TempPathFactory) -> None:
    import sqlite3

    path = f"{tmp_path}/ok.db"
    sqlite3.connect(path).close()
    good = SqlCheck(spec("sql"), "sqlite3", path).run(None)
    assert good.status is Status.HEALTHY
    bad = SqlCheck(spec("sql"), "sqlite3", path, query="SELECT * FROM missing_table").run(None)
    assert bad.status is Status.FAILING
    assert "no such table: missing_table" in bad.message


def test_an_async_check_is_failing_with_a_clear_message_and_no_never_awaited_warning() -> None:
    import warnings

    from otelbundle.health.checks import to_verdict

    async def check() -> str:
        return "ok"

    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a "coroutine was never awaited" RuntimeWarning fails the test
        with pytest.raises(TypeError, match="check is an async function"):
            to_verdict(check())
        import gc

        gc.collect()


def test_a_sqlite_query_still_running_at_the_timeout_is_interrupted(tmp_path: pytest.TempPathFactory) -> None:
    """The worker ran the query to its end, however long: every later run was skipped as hung."""
    import sqlite3
    import threading

    path = f"{tmp_path}/ok.db"
    sqlite3.connect(path).close()
    endless = "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n) SELECT count(*) FROM n"
    check = SqlCheck(CheckSpec("slow", "sql", interval_s=10, timeout_s=0.5), "sqlite3", path, query=endless)
    verdicts: list[Verdict] = []
    worker = threading.Thread(target=lambda: verdicts.append(check.run(None)), daemon=True)
    worker.start()
    worker.join(30)  # sixty timeouts
    assert not worker.is_alive()
    assert verdicts[0].status is Status.FAILING
    assert verdicts[0].message == "query failed (sqlite3): interrupted"


def test_a_postgresql_dsn_password_quoted_back_by_libpq_is_hidden() -> None:
    pytest.importorskip("psycopg")
    typo = "postgresql//orders:pa55word@127.0.0.1/orders"  # ':' missing: libpq quotes it whole
    verdict = SqlCheck(spec("sql"), "postgresql", typo).run(None)
    assert verdict.status is Status.FAILING
    assert verdict.message.startswith("cannot connect (postgresql): ")
    assert "pa55word" not in verdict.message and "orders:***@" in verdict.message


def test_a_sql_query_returning_endless_rows_is_answered_by_its_first_row(
    tmp_path: pytest.TempPathFactory,
) -> None:
    """fetchall() read every row (a SELECT * on a big table: all of it in memory, every run);
    here the rows never end, so reading them all ran into the timeout."""
    import sqlite3

    path = f"{tmp_path}/big.db"
    sqlite3.connect(path).close()
    endless = (
        "WITH RECURSIVE n(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM n) "
        "SELECT x, length(hex(randomblob(4096))) FROM n"  # slow rows: the old code's memory stays small
    )
    check = SqlCheck(CheckSpec("big", "sql", interval_s=10, timeout_s=2), "sqlite3", path, query=endless)
    verdict = check.run(None)
    assert verdict.status is Status.HEALTHY, verdict.message
