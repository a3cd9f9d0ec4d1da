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


def test_check_says_each_cause_once_and_counts_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """An unset variable, or a reference in the shell's syntax, is the cause; the url it
    leaves empty or unread is not a second problem (before: two lines each, counted twice)."""
    monkeypatch.delenv("INVENTORY_URL", raising=False)
    cfg = tmp_path / "otelbundle.yaml"
    cfg.write_text(
        "health:\n  checks:\n"
        '    - {name: inventory, kind: http, url: "${env:INVENTORY_URL}"}\n'
        '    - {name: orders, kind: http, url: "${URL:-http://x}"}\n'
    )
    assert run(["health", "check", str(cfg)]) == 1
    lines = capsys.readouterr().err.replace(f"{tmp_path}/", "").splitlines()
    assert lines == [
        "otelbundle.yaml:3:43: environment variable INVENTORY_URL is not set",
        "otelbundle.yaml:4:40: '${URL:-http://x}' is not read as a variable: write ${env:URL:-http://x} "
        "(only ${env:NAME} and ${env:NAME:-default} are; $${ is a literal ${)",
        "otelbundle.yaml: FAILED: 2 problem(s)",
    ], lines


def test_check_of_a_misspelt_section_says_where_and_what_was_meant(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    cfg = tmp_path / "ht.yaml"
    cfg.write_text("helth:\n  checks:\n    - {name: a, kind: system, resource: cpu, warning: 80%}\n")
    assert run(["health", "check", str(cfg)]) == 1
    assert capsys.readouterr().err.replace(f"{tmp_path}/", "").splitlines() == [
        "ht.yaml:1:1: unknown key 'helth' in otelbundle.yaml (did you mean 'health'?)",
        "ht.yaml: FAILED: 1 problem(s)",
    ]
    cfg.write_text("other: 1\n")
    assert run(["health", "check", str(cfg)]) == 1
    assert capsys.readouterr().err.strip() == f"{cfg}: no health: section"
