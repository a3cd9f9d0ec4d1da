"""A file left broken is reported once, not at every reload check; fixing it reloads."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from otelbundle.alerting import manager
from otelbundle.alerting.manager import RuleFiles
from tests.unit.alerting.helpers import config_from

GOOD = """
groups:
  - name: g
    rules:
      - alert: A
        spans: {service: shop}
        expr: error_count > 0
"""
BROKEN = GOOD.replace("error_count > 0", "error_count >")


def write(path: Path, text: str, mtime: float) -> None:
    path.write_text(text)
    os.utime(path, (mtime, mtime))  # distinct times however coarse the file system's clock


def problems_said(capfd: pytest.CaptureFixture[str]) -> int:
    """Reports so far (the diagnostics logger writes to stderr only)."""
    return capfd.readouterr().err.count("alert rules not reloaded")


@pytest.fixture(autouse=True)
def every_tick_checks(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(manager, "RELOAD_CHECK_INTERVAL", 0.0)


def test_a_broken_rule_file_is_reported_once_and_its_fix_reloads(
    tmp_path: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    files = RuleFiles(config_from(tmp_path, GOOD), {})
    write(tmp_path / "rules.yaml", BROKEN, 2_000_000_000)
    assert files.changes() is None
    assert files.changes() is None
    assert files.changes() is None
    assert problems_said(capfd) == 1
    write(tmp_path / "rules.yaml", GOOD, 2_000_000_010)
    reloaded = files.changes()
    assert reloaded is not None and [r.name for g in reloaded.groups for r in g.rules] == ["A"]


def test_a_broken_rule_file_the_edit_added_is_watched_until_fixed(
    tmp_path: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    files = RuleFiles(config_from(tmp_path, GOOD), {})
    write(tmp_path / "more.yaml", BROKEN.replace("alert: A", "alert: B"), 2_000_000_000)
    write(
        tmp_path / "otelbundle.yaml",
        "alerting:\n  rule_files: [rules.yaml, more.yaml]\n",
        2_000_000_000,
    )
    assert files.changes() is None
    assert files.changes() is None
    assert problems_said(capfd) == 1
    write(tmp_path / "more.yaml", GOOD.replace("alert: A", "alert: B"), 2_000_000_010)
    reloaded = files.changes()
    assert reloaded is not None
    assert sorted(r.name for g in reloaded.groups for r in g.rules) == ["A", "B"]
