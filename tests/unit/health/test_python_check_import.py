"""A python check's module is imported when the checks start, on the starting thread, not on a
worker thread at the first run (a fork then could leave its import lock held in the child);
a module that cannot be imported is said at start with the config entry's position."""

from __future__ import annotations

import os
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from otelbundle.health.checks import CheckSpec, PythonCheck
from otelbundle.health.model import CheckResult, Status
from otelbundle.health.scheduler import Scheduler


@pytest.fixture
def modules(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    monkeypatch.syspath_prepend(str(tmp_path))
    before = set(sys.modules)
    yield tmp_path
    for name in set(sys.modules) - before:
        if name.startswith("startcheck_"):
            del sys.modules[name]


def spec(name: str = "custom") -> CheckSpec:
    return CheckSpec(name, "python", interval_s=10, timeout_s=5)


def test_the_module_is_imported_on_the_thread_that_starts_the_checks(modules: Path) -> None:
    (modules / "startcheck_ok.py").write_text(
        "import threading\nIMPORTED_ON = threading.current_thread().name\n\ndef check():\n    return 'ok'\n"
    )
    scheduler = Scheduler([PythonCheck(spec(), "startcheck_ok:check")], lambda r: None, start_delay_s=3600)
    scheduler.start()
    try:
        assert "startcheck_ok" in sys.modules  # no run has happened: the first is an hour away
        assert threading.current_thread().name == sys.modules["startcheck_ok"].IMPORTED_ON
    finally:
        scheduler.stop()


def test_a_module_that_fails_to_import_is_said_at_start_with_its_position_and_not_retried(
    modules: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (modules / "startcheck_broken.py").write_text(
        "import os\nos.environ['STARTCHECK_IMPORTS'] = os.environ.get('STARTCHECK_IMPORTS', '') + 'x'\n"
        "raise RuntimeError('settings missing')\n"
    )
    check = PythonCheck(spec("payments"), "startcheck_broken:check", where="otelbundle.yaml:7:22")
    check.prepare()
    check.prepare()  # a fork child's scheduler prepares the same check: said once
    err = capsys.readouterr().err
    assert err.count("startcheck_broken") == 1, err
    assert (
        "ERROR otelbundle.yaml:7:22: health check 'payments': cannot import startcheck_broken:check: "
        "RuntimeError: settings missing; it reports failing, the application continues.\n" in err
    )
    collected: list[CheckResult] = []
    done = threading.Event()

    def on_result(result: CheckResult) -> None:
        collected.append(result)
        done.set()

    Scheduler([check], on_result).tick()
    assert done.wait(30)
    assert collected[0].status is Status.FAILING
    assert collected[0].message == (
        "otelbundle.yaml:7:22: health check 'payments': cannot import startcheck_broken:check: "
        "RuntimeError: settings missing (at start)"
    )
    assert os.environ.pop("STARTCHECK_IMPORTS") == "x"  # imported once, at start only


def test_a_module_without_the_function_is_said_at_start(
    modules: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (modules / "startcheck_nofunc.py").write_text("other = 1\n")
    check = PythonCheck(spec(), "startcheck_nofunc:check", where="otelbundle.yaml:3:5")
    check.prepare()
    assert (
        "otelbundle.yaml:3:5: health check 'custom': cannot import startcheck_nofunc:check: "
        "LookupError: module 'startcheck_nofunc' has no callable 'check'; it reports failing"
        in (capsys.readouterr().err)
    )
    assert check.run(None).status is Status.FAILING


def test_health_run_says_a_failed_import_in_the_words_the_app_uses_at_start(
    modules: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """``otelbundle health run`` does not prepare (nothing forks): the import happens in ``run``,
    and used to be said as ``check raised RuntimeError: settings missing``, without the check's
    target or the config position the app's start-up line has."""
    (modules / "startcheck_run_broken.py").write_text("raise RuntimeError('settings missing')\n")
    cli = PythonCheck(spec("payments"), "startcheck_run_broken:check", where="otelbundle.yaml:7:22")
    verdict = cli.run(None)
    said = (
        "otelbundle.yaml:7:22: health check 'payments': cannot import startcheck_run_broken:check: "
        "RuntimeError: settings missing"
    )
    assert (verdict.status, verdict.message) == (Status.FAILING, said)
    app = PythonCheck(spec("payments"), "startcheck_run_broken:check", where="otelbundle.yaml:7:22")
    app.prepare()
    assert f"ERROR {said}; it reports failing, the application continues." in capsys.readouterr().err
    assert app.run(None).message == f"{said} (at start)"
