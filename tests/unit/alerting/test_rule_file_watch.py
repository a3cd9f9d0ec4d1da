"""What the reload check watches: a config that had problems at start, and files added where a glob points.

A bad rule file at start meant no manager at all: no file watch and no SIGHUP handler, so
fixing the file did nothing until a restart, and SIGHUP (left to its default) killed the
application. And the check stat'ed only the files of the last load, so a new file matching a
``rule_files:`` glob waited for SIGHUP.
"""

from __future__ import annotations

import os
import signal
import textwrap
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from otelbundle.alerting import manager
from otelbundle.alerting.manager import RuleFiles, RuleManager, build_alerting
from otelbundle.alerting.section import AlertingConfig, alerting_config_at_start, load_alerting_config
from otelbundle.config.document import read_document

GOOD = """
groups:
  - name: g
    rules:
      - alert: A
        spans: {service: shop}
        expr: error_count > 0
"""
BROKEN = GOOD.replace("error_count > 0", "eror_count > 0")


def write(path: Path, text: str, mtime: float) -> None:
    path.write_text(textwrap.dedent(text))
    os.utime(path, (mtime, mtime))  # distinct times however coarse the file system's clock


def rule_names(setup: RuleManager) -> list[str]:
    return sorted(name for _group, name in setup.engine.states)


def wait_for_rules(setup: RuleManager, names: list[str], timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout  # the engine thread checks every RELOAD_CHECK_INTERVAL
    while rule_names(setup) != names:
        assert time.monotonic() < deadline, f"rules are {rule_names(setup)}, not {names}"
        time.sleep(0.05)


def config_at_start(folder: Path) -> AlertingConfig:
    config = alerting_config_at_start(read_document(str(folder / "otelbundle.yaml"), {}), {})
    assert config is not None
    return config


@pytest.fixture
def sighup_unclaimed() -> Iterator[None]:
    """As in an application that has not claimed SIGHUP; the test's handler is put back after."""
    previous = signal.getsignal(signal.SIGHUP)
    signal.signal(signal.SIGHUP, signal.SIG_DFL)
    try:
        yield
    finally:
        signal.signal(signal.SIGHUP, previous)


@pytest.fixture
def quick_checks(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(manager, "RELOAD_CHECK_INTERVAL", 0.0)


def test_a_bad_rule_file_at_start_runs_no_rules_and_fixing_it_starts_them(
    tmp_path: Path, capfd: pytest.CaptureFixture[str], sighup_unclaimed: None
) -> None:
    write(tmp_path / "rules.yaml", BROKEN, 2_000_000_000)
    (tmp_path / "otelbundle.yaml").write_text("alerting:\n  rule_files: [rules.yaml]\n")
    setup = build_alerting(str(tmp_path / "otelbundle.yaml"), {})
    assert setup is not None
    try:
        assert rule_names(setup) == []
        err = capfd.readouterr().err
        assert f"{tmp_path}/rules.yaml:7:15: expr: unknown aggregate 'eror_count'" in err
        assert "alert rules are off because of 1 problem(s)" in err
        assert signal.getsignal(signal.SIGHUP) is not signal.SIG_DFL  # SIGHUP reloads, not kills
        write(tmp_path / "rules.yaml", GOOD, 2_000_000_010)
        wait_for_rules(setup, ["A"])
    finally:
        setup.shutdown()


def test_a_bad_start_that_is_still_bad_after_an_edit_says_the_rules_are_still_off(
    tmp_path: Path, capfd: pytest.CaptureFixture[str], quick_checks: None
) -> None:
    """Not "the running rules stay": none run."""
    write(tmp_path / "rules.yaml", BROKEN, 2_000_000_000)
    (tmp_path / "otelbundle.yaml").write_text("alerting:\n  rule_files: [rules.yaml]\n")
    config = config_at_start(tmp_path)
    assert config.rules == [] and config.problems
    files = RuleFiles(config, {})
    capfd.readouterr()
    assert files.changes() is None  # nothing changed: not read again, not said again
    write(tmp_path / "rules.yaml", BROKEN.replace("alert: A", "alert: B"), 2_000_000_010)
    assert files.changes() is None
    assert files.changes() is None
    err = capfd.readouterr().err
    assert err.count("alert rules are still off because of 1 problem(s)") == 1, err
    assert "running rules stay" not in err
    write(tmp_path / "rules.yaml", GOOD, 2_000_000_020)
    reloaded = files.changes()
    assert reloaded is not None and [rule.name for rule in reloaded.rules] == ["A"]


def test_at_start_notifier_problems_are_said_next_to_rule_problems_and_good_channels_run(
    tmp_path: Path, capfd: pytest.CaptureFixture[str], sighup_unclaimed: None
) -> None:
    """Start-up said only the rule problems; `config check` says all (alerting.md: "A bad config
    at start-up prints every problem once")."""
    write(tmp_path / "rules.yaml", BROKEN, 2_000_000_000)
    (tmp_path / "otelbundle.yaml").write_text(
        "alerting:\n"
        "  rule_files: [rules.yaml]\n"
        "  notify:\n"
        '    webhook: {url: "http://127.0.0.1:9/hook"}\n'
        '    slack: {webhook_url: "ftp://x"}\n'
    )
    setup = build_alerting(str(tmp_path / "otelbundle.yaml"), {})
    assert setup is not None
    try:
        assert list(setup.dispatcher.stats()) == ["webhook"]  # kept for the rules the fix starts
    finally:
        setup.shutdown()
    lines = capfd.readouterr().err.replace(f"{tmp_path}/", "").splitlines()
    assert [line for line in lines if line.startswith("ERROR ")] == [
        "ERROR rules.yaml:7:15: expr: unknown aggregate 'eror_count'; known: count, rate, error_count, "
        "error_ratio, avg_duration, max_duration, pNN, quantile(q), absent",
        "ERROR otelbundle: alert rules are off because of 1 problem(s) in the configuration; fixing the "
        "files starts them (no restart needed); the application continues.",
        "ERROR otelbundle.yaml:5:27: notify.slack.webhook_url: 'ftp://x' is not an http(s) URL",
        "ERROR otelbundle: 1 problem(s) in alerting.notify: the channels they are in are off; "
        "the application continues.",
    ]


def test_a_rule_file_added_where_a_glob_points_is_loaded_without_sighup(
    tmp_path: Path, quick_checks: None
) -> None:
    (tmp_path / "rules").mkdir()
    write(tmp_path / "rules" / "a.yaml", GOOD, 2_000_000_000)
    (tmp_path / "otelbundle.yaml").write_text('alerting:\n  rule_files: ["rules/*.yaml"]\n')
    config = load_alerting_config(str(tmp_path / "otelbundle.yaml"), {})
    assert config is not None
    files = RuleFiles(config, {})
    assert files.changes() is None
    write(tmp_path / "rules" / "b.yaml", GOOD.replace("name: g", "name: h").replace("A", "B"), 2_000_000_000)
    reloaded = files.changes()
    assert reloaded is not None and sorted(rule.name for rule in reloaded.rules) == ["A", "B"]
    assert files.changes() is None  # the added file is known now: no reload at every check
    (tmp_path / "rules" / "b.yaml").unlink()
    reloaded = files.changes()  # a removed one is a change too
    assert reloaded is not None and [rule.name for rule in reloaded.rules] == ["A"]


def test_a_glob_that_matched_nothing_at_start_loads_the_first_file_put_there(
    tmp_path: Path, capfd: pytest.CaptureFixture[str], sighup_unclaimed: None
) -> None:
    (tmp_path / "rules").mkdir()
    (tmp_path / "otelbundle.yaml").write_text('alerting:\n  rule_files: ["rules/*.yaml"]\n')
    setup = build_alerting(str(tmp_path / "otelbundle.yaml"), {})
    assert setup is not None
    try:
        assert "rule_files: 'rules/*.yaml' matches no file" in capfd.readouterr().err
        write(tmp_path / "rules" / "a.yaml", GOOD, 2_000_000_000)
        wait_for_rules(setup, ["A"])
    finally:
        setup.shutdown()
