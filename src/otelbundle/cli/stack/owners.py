"""Whose a stack is, when it is not the caller's: what ``stack up``/``down`` say instead of a traceback.

A stack started under ``sudo`` (with the same stack dir: ``OTELBUNDLE_STACK_DIR``, or a
``HOME`` sudo kept) belongs to root: its processes cannot be signalled and its ``run/``
folder cannot be written by the user who then types ``stack down``, and the reverse for
any two users. The messages name the component, its pid and its owner, and who to run as.
"""

from __future__ import annotations

import os
import pwd
from collections.abc import Sequence
from pathlib import Path


def user_name(uid: int) -> str:
    try:
        return pwd.getpwuid(uid).pw_name
    except KeyError:
        return f"uid {uid}"


def process_owner(pid: int) -> str:
    """The user a process runs as (Linux: the owner of /proc/PID), else "another user"."""
    try:
        return user_name(os.stat(f"/proc/{pid}").st_uid)
    except OSError:
        return "another user"


def path_owner(path: Path) -> str:
    """The owner of ``path``, or of the nearest folder above it that exists."""
    for candidate in (path, *path.parents):
        try:
            return user_name(candidate.stat().st_uid)
        except OSError:
            continue
    return "another user"


def may_signal(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except PermissionError:
        return False
    except OSError:
        return True  # gone: nothing to refuse
    return True


def _run_as(owners: Sequence[str]) -> str:
    named = sorted(set(owners))
    if named == ["root"]:
        return "as root"
    if len(named) == 1 and named[0] != "another user":
        return f"as {named[0]} (or root)"
    return "as the user who started them (or root)"


def others_processes(
    processes: Sequence[tuple[str, int]], data_dir: Path, command: str, *, nothing_stopped: bool
) -> str:
    """``processes``: (component, pid) pairs this user may not signal."""
    owners = [process_owner(pid) for _, pid in processes]
    listed = ", ".join(
        f"{name} (pid {pid}) runs as user {owner}"
        for (name, pid), owner in zip(processes, owners, strict=True)
    )
    return (
        f"{listed}, not as you ({user_name(os.getuid())}): not allowed to stop "
        f"{'it' if len(processes) == 1 else 'them'}{', so nothing was stopped' if nothing_stopped else ''}. "
        f"Run `OTELBUNDLE_STACK_DIR={data_dir} otelbundle stack {command}` {_run_as(owners)}"
    )


def others_folder(run: Path, reason: str) -> str:
    """``run``: the stack's run/ folder, which this user cannot write (``reason``: the error)."""
    owner = path_owner(run)
    return (
        f"cannot write to {run} ({reason}): this stack dir belongs to user {owner}, not to you "
        f"({user_name(os.getuid())}). Run the command {_run_as([owner])}, or use a stack dir of your own "
        "(OTELBUNDLE_STACK_DIR=DIR)"
    )


def path_owner_uid(path: Path) -> int | None:
    """The uid owning ``path``, or the nearest folder above it that exists."""
    for candidate in (path, *path.parents):
        try:
            return candidate.stat().st_uid
        except OSError:
            continue
    return None


def roots_start_in_users_dir(data_dir: Path) -> str | None:
    """Why root must not start the stack in a stack dir another user owns (``sudo`` keeping
    HOME, or OTELBUNDLE_STACK_DIR): every file its components write there is root's, and
    that user's own next ``stack up`` fails on them (the collector's queue, Jaeger's and
    Prometheus' data: permission denied). None when the caller is not root or the dir is root's."""
    if os.geteuid() != 0:
        return None
    uid = path_owner_uid(data_dir)
    if uid is None or uid == 0:
        return None
    owner = user_name(uid)
    try:
        roots = Path(pwd.getpwuid(0).pw_dir) / ".local" / "share" / "otelbundle" / "stack"
    except KeyError:
        roots = Path("/root/.local/share/otelbundle/stack")
    return (
        f"{data_dir} belongs to user {owner}, and you are root: started as root, the stack would leave "
        f"files there that {owner}'s own `otelbundle stack up` cannot write (permission denied), so "
        f"nothing was started. Run `otelbundle stack up` as {owner} (without sudo), or give root a stack "
        f"dir of its own: `OTELBUNDLE_STACK_DIR={roots} otelbundle stack up`"
    )
