"""A disk check on a path that does not exist says which path, not an errno from psutil."""

from __future__ import annotations

from pathlib import Path

from otelbundle.health.checks import CheckSpec, SystemCheck
from otelbundle.health.model import Status, Thresholds


def test_a_missing_disk_path_fails_naming_the_path(tmp_path: Path) -> None:
    missing = str(tmp_path / "not-mounted")
    check = SystemCheck(CheckSpec("data", "system", 15, 5), "disk", Thresholds(80, 90), missing)
    check.prepare()
    verdict = check.run(None)
    assert (verdict.status, verdict.message) == (Status.FAILING, f"disk path {missing!r} does not exist")


def test_an_existing_path_is_measured(tmp_path: Path) -> None:
    check = SystemCheck(CheckSpec("data", "system", 15, 5), "disk", Thresholds(99.9, 100), str(tmp_path))
    check.prepare()
    verdict = check.run(None)
    assert verdict.message.startswith(f"disk {tmp_path} at ")
