"""A child forked while the parent's export thread held a connection pool's lock must exit.

A reviewer's app forked 150 children beside a thread ending spans: 2 never exited (py-spy:
urllib3's pool finalizer at exit, waiting for the queue lock the parent's export thread held at
the fork), and their parent's waitpid waited with them. The program holds that lock on purpose
(programs/fork_inside_pool_lock.py), so the case is met every run.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from harness.apps import clean_env, run

PROGRAM = str(Path(__file__).parent / "programs" / "fork_inside_pool_lock.py")


@pytest.mark.parametrize(("child", "lock"), [("exits", "pool"), ("export", "pool"), ("export", "cookies")])
def test_the_child_exits_and_can_export(child: str, lock: str) -> None:
    result = run(["python", PROGRAM, child, lock], clean_env({}), instrument=False, timeout=60)
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["CHILD", "EXITED", "0"], result.stdout + result.stderr
