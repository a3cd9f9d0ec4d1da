"""A command whose module cannot be imported stays in the list and says why when run."""

from __future__ import annotations

import importlib
import sys
from pathlib import Path

import pytest

cli_main = importlib.import_module("otelbundle.cli.main")  # the package's `main` is the function


@pytest.fixture
def broken_command(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    (tmp_path / "otelbundle_broken_cmd.py").write_text(
        "raise PermissionError(13, 'Permission denied', '/root/x')\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.delitem(sys.modules, "otelbundle_broken_cmd", raising=False)
    monkeypatch.setitem(cli_main.COMMAND_MODULES, "broken", "otelbundle_broken_cmd")
    return "broken"


def test_running_it_says_which_module_failed_and_why(
    broken_command: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert cli_main.main([broken_command, "--anything"]) == 1
    err = capsys.readouterr().err
    assert "otelbundle broken: cannot be loaded (otelbundle_broken_cmd): PermissionError" in err
    assert "Permission denied" in err


def test_help_still_lists_it_with_the_reason_and_the_other_commands_work(
    broken_command: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as stopped:
        cli_main.main(["--help"])
    assert stopped.value.code == 0
    out = capsys.readouterr().out
    assert "broken" in out and "cannot be loaded: PermissionError" in out
    assert "rules" in out and "stack" in out
