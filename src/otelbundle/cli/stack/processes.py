"""One component's process: start it in the stack dir, ask whether it answers, stop it."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Mapping
from pathlib import Path

# The components this process started and has not collected yet, by pid.
_children: dict[int, subprocess.Popen[bytes]] = {}


def healthy(url: str, timeout: float = 2.0) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:
            return 200 <= int(response.status) < 300
    except (urllib.error.URLError, OSError, ValueError):
        return False


def port_in_use(port: int) -> bool:
    with socket.socket() as sock:
        sock.settimeout(0.5)
        return sock.connect_ex(("127.0.0.1", port)) == 0


def launch(command: list[str], env: Mapping[str, str], cwd: Path, log: Path) -> int:
    """Start ``command`` in ``cwd`` (the stack dir: how a holder is told to be ours), output appended
    to ``log``, in a session of its own so that the terminal's Ctrl-C does not stop it; its pid."""
    output = open(log, "ab")  # noqa: SIM115 - owned by the child
    process = subprocess.Popen(
        command,
        env=dict(env),
        stdout=output,
        stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL,
        cwd=str(cwd),
        start_new_session=True,
    )
    output.close()
    # Held, not dropped: a dropped Popen whose process still runs is collected by the next
    # Popen anywhere in this process (subprocess' own clean-up), which loses its exit status.
    _children[process.pid] = process
    return process.pid


def terminate(pid: int, grace: float, running: Callable[[], bool]) -> bool:
    """SIGTERM, then SIGKILL if ``running()`` still holds after ``grace`` seconds. True when the
    process stopped by itself. PermissionError: another user's process."""
    os.kill(pid, signal.SIGTERM)
    end = time.monotonic() + grace
    while time.monotonic() < end and running():
        reap(pid)
        time.sleep(0.2)
    stopped = not running()
    if not stopped:
        os.kill(pid, signal.SIGKILL)
    reap(pid)
    return stopped


def reap(pid: int) -> int | None:
    """Collect our own exited child so it does not linger as a zombie that still 'exists';
    its exit code (negative: the signal that ended it) when it was collected now."""
    child = _children.get(pid)
    if child is not None:
        if child.poll() is None:
            return None
        del _children[pid]
        return child.returncode
    try:
        collected, status = os.waitpid(pid, os.WNOHANG)
    except (ChildProcessError, OSError):
        return None
    return os.waitstatus_to_exitcode(status) if collected == pid else None


def describe_exit(code: int) -> str:
    """An exit code as a person reads it: ``exit status 1``, ``killed by SIGSEGV``."""
    if code >= 0:
        return f"exit status {code}"
    try:
        return f"killed by {signal.Signals(-code).name}"
    except ValueError:
        return f"killed by signal {-code}"
