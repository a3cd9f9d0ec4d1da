"""The files of one stack dir: a pid file and a log per component, the topology record, the lock.

The pid files are how the runner knows its own processes: nothing here ever takes
a process it did not start for its own, so a pid file whose number a stranger has
since taken (a crash, a reboot) counts as no process at all.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import json
import os
import secrets
import shutil
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path

from otelbundle.cli.stack.errors import StackError
from otelbundle.cli.stack.holders import runs_in
from otelbundle.cli.stack.owners import others_folder

KEY_BYTES = 32


def write_fault(exc: OSError, stack_dir: Path) -> StackError:
    """What a person reads when the stack dir cannot be written (read-only, full, another user's):
    the path, the cause, and what to do, instead of a traceback."""
    where = Path(exc.filename) if exc.filename else stack_dir
    if exc.errno in (errno.EACCES, errno.EPERM):
        return StackError(others_folder(where.parent if where.is_file() else where, exc.strerror or "denied"))
    if exc.errno == errno.EROFS:
        cause = "the file system is read-only"
    elif exc.errno in (errno.ENOSPC, errno.EDQUOT):
        cause = f"no space left on its device ({_free(stack_dir)} free)"
    else:
        cause = exc.strerror or str(exc)
    return StackError(
        f"cannot write to {where}: {cause}. Free some space or make it writable, or use a stack dir on "
        "another disk (OTELBUNDLE_STACK_DIR=DIR)"
    )


def _free(path: Path) -> str:
    for probe in (path, *path.parents):
        with contextlib.suppress(OSError):
            return f"{shutil.disk_usage(probe).free / 1e6:.1f} MB"
    return "unknown"


def unwritable(folder: Path) -> str | None:
    """Why ``folder`` (or, while it does not exist, the nearest folder above it that does, where
    it would be made) cannot be written; None when it can."""
    for candidate in (folder, *folder.parents):
        if not candidate.exists():
            continue
        if not candidate.is_dir():
            return f"{candidate} is not a folder"
        if os.access(candidate, os.W_OK | os.X_OK):
            return None
        try:
            read_only = bool(os.statvfs(candidate).f_flag & os.ST_RDONLY)
        except OSError:
            read_only = False
        return f"{candidate}: {'the file system is read-only' if read_only else 'permission denied'}"
    return None


def default_data_dir(env: Mapping[str, str]) -> Path:
    explicit = env.get("OTELBUNDLE_STACK_DIR")
    return Path(explicit) if explicit else Path.home() / ".local" / "share" / "otelbundle" / "stack"


class StackDir:
    """``run/<name>.pid`` (and ``.settings.json``), ``logs/<name>.log``, ``run/topology.json`` and
    ``run/lock`` under ``path``."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.run = path / "run"

    def pid_file(self, name: str) -> Path:
        return self.run / f"{name}.pid"

    def log_file(self, name: str) -> Path:
        return self.path / "logs" / f"{name}.log"

    def live_pid(self, name: str) -> int | None:
        """The pid in ``name``'s pid file, if that process still runs and is this stack's."""
        try:
            pid = int(self.pid_file(name).read_text())
        except (OSError, ValueError):
            return None
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return None
        except PermissionError:
            return pid
        # A stale pid file's number may now be another process: never report or stop that one.
        return pid if runs_in(pid, self.path) else None

    def record_pid(self, name: str, pid: int) -> None:
        self.pid_file(name).write_text(str(pid))

    def forget_pid(self, name: str) -> None:
        self.pid_file(name).unlink(missing_ok=True)
        self.settings_file(name).unlink(missing_ok=True)

    def settings_file(self, name: str) -> Path:
        """What the process in ``name``'s pid file was started with (settings.py)."""
        return self.run / f"{name}.settings.json"

    def settings_key(self) -> bytes:
        """The random key of the settings' environment hashes (settings.py), made on first use,
        readable by the owner only."""
        path = self.run / "settings.key"
        try:
            key = path.read_bytes()
            if len(key) == KEY_BYTES:
                return key
        except FileNotFoundError:
            pass
        self.run.mkdir(parents=True, exist_ok=True)
        key = secrets.token_bytes(KEY_BYTES)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        os.fchmod(fd, 0o600)
        with os.fdopen(fd, "wb") as out:
            out.write(key)
        return key

    def tail(self, name: str, lines: int, since: int = 0) -> str:
        """The last ``lines`` lines of the log, of what was written from byte ``since`` on."""
        try:
            with self.log_file(name).open("rb") as log:
                log.seek(since)
                text = log.read().decode(errors="replace")
        except OSError:
            return "(no log)"
        return "\n".join(text.splitlines()[-lines:])

    # ---- what the last `up` ran ------------------------------------------
    def _topology_file(self) -> Path:
        return self.run / "topology.json"

    def recorded_gateways(self) -> int:
        """How many gateways the last ``up`` started (0 when none is recorded)."""
        try:
            return int(json.loads(self._topology_file().read_text())["gateways"])
        except (OSError, ValueError, KeyError, TypeError):
            return 0

    def record_topology(self, gateways: int, logs: str) -> None:
        self._topology_file().write_text(json.dumps({"gateways": gateways, "logs": logs}) + "\n")

    def forget_topology(self) -> None:
        self._topology_file().unlink(missing_ok=True)

    # ---- one `up` or `down` at a time --------------------------------------
    @contextlib.contextmanager
    def exclusive(self, say: Callable[[str], None]) -> Iterator[None]:
        """One `up` or `down` at a time per stack dir: two at once each start a copy of every
        component (one fails to bind, its pid overwrites the other's: an orphan), or a `down`
        stops what an `up` is starting. The lock goes with the process, however it ends."""
        try:
            self.run.mkdir(parents=True, exist_ok=True)
            # Read-only: flock needs no more, and a lock file root left (`sudo otelbundle stack
            # down`) in a user's stack dir must not lock that user out.
            handle = os.fdopen(os.open(self.run / "lock", os.O_RDONLY | os.O_CREAT, 0o644), "rb")
        except OSError as exc:
            raise write_fault(exc, self.path) from None
        if not os.access(self.run, os.W_OK):  # a lock file left writable in a folder that is not
            handle.close()
            raise StackError(others_folder(self.run, "Permission denied"))
        with handle:
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                say(f"  another `otelbundle stack up` or `down` is running on {self.path}: waiting for it")
                fcntl.flock(handle, fcntl.LOCK_EX)
            yield
