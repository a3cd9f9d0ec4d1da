from __future__ import annotations

import argparse
import socket
import sys
from pathlib import Path

import pytest

from otelbundle.cli.health import add_commands


def run(argv: list[str]) -> int:
    parser = argparse.ArgumentParser()
    add_commands(parser.add_subparsers())
    args = parser.parse_args(argv)
    return int(args.func(args))


def test_check_reports_positions_and_exit_code(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    good = tmp_path / "good.yaml"
    good.write_text("health:\n  checks:\n    - {name: disk, kind: system, resource: disk, critical: 99%}\n")
    bad = tmp_path / "bad.yaml"
    bad.write_text("health:\n  checks:\n    - {name: x, kind: tcp, host: h}\n")
    assert run(["health", "check", str(good)]) == 0
    assert f"{good}: SUCCESS: 1 health checks" in capsys.readouterr().out
    assert run(["health", "check", str(good), str(bad)]) == 1
    assert f"{bad}:3:7: missing required key 'port'" in capsys.readouterr().err


def test_run_once_prints_each_status(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with socket.socket() as closed:
        closed.bind(("127.0.0.1", 0))
        port = closed.getsockname()[1]
    cfg = tmp_path / "otelbundle.yaml"
    cfg.write_text(
        "health:\n  timeout: 1s\n  checks:\n"
        "    - {name: disk, kind: system, resource: disk, critical: 100%}\n"
        f"    - {{name: nothing-there, kind: tcp, host: 127.0.0.1, port: {port}}}\n"
    )
    assert run(["health", "run", str(cfg)]) == 1
    out = capsys.readouterr().out
    assert "disk                 healthy   disk / at " in out
    assert f"nothing-there        failing   cannot connect to 127.0.0.1:{port}" in out


def test_run_says_a_python_check_that_cannot_be_imported_as_the_app_does(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """The row names the check, its target, the exception and the config position, in the
    words of the app's start-up line (tests/unit/health/test_python_check_import.py)."""
    monkeypatch.chdir(tmp_path)  # `health run` imports from the current directory, as the app does
    monkeypatch.setattr(sys, "path", list(sys.path))  # put_cwd_on_path adds the directory
    (tmp_path / "clicheck_broken.py").write_text("raise RuntimeError('settings missing')\n")
    cfg = tmp_path / "otelbundle.yaml"
    cfg.write_text(
        "health:\n  checks:\n    - {name: payments, kind: python, function: clicheck_broken:check}\n"
    )
    assert run(["health", "run", str(cfg)]) == 1
    out = capsys.readouterr().out
    assert out.startswith(
        f"payments             failing   {cfg}:3:48: health check 'payments': cannot import "
        "clicheck_broken:check: RuntimeError: settings missing ("
    ), out
