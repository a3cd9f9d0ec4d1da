"""The one line said at start when the config file cannot be read names what named the file."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from otelbundle.config import document


def _said(capsys: pytest.CaptureFixture[str]) -> str:
    return capsys.readouterr().err.strip()


def test_an_unreadable_found_file_is_not_blamed_on_the_variable(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    found = tmp_path / "otelbundle.yaml"
    found.write_text("health: {}\n")
    monkeypatch.setattr(os, "access", lambda path, mode: False)  # e.g. mode 000 as a non-root user
    try:
        assert document.open_at_start(str(found), {}) is None
        assert _said(capsys) == (
            f"ERROR otelbundle: the config file {found} is not readable; "
            "alert rules and health checks are off, telemetry continues."
        )
        assert document.open_at_start(str(found), {"OTELBUNDLE_CONFIG": str(found)}) is None
        assert _said(capsys).startswith(f"ERROR otelbundle: OTELBUNDLE_CONFIG={found} is not readable;")
    finally:
        document.forget_started_with()
