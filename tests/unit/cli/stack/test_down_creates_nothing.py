"""`stack down` with nothing to stop creates nothing: root's `down` in a user's fresh stack dir
(no run/ yet) created a root-owned run/, after which the owner's `up` said "this stack dir
belongs to user root"."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[4]


def test_down_in_a_stack_dir_where_nothing_was_started_writes_nothing(tmp_path: Path) -> None:
    data = tmp_path / "data"
    data.mkdir()
    down = subprocess.run(
        [sys.executable, "-m", "otelbundle.cli", "stack", "down", "--config-root", str(ROOT)],
        env={**os.environ, "OTELBUNDLE_STACK_DIR": str(data)},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert (down.returncode, down.stderr) == (0, "")
    assert down.stdout == f"  nothing to stop: no component of the stack in {data} was running\n"
    assert list(data.iterdir()) == []
