"""Who holds a loopback port, and is it one of our stacks?

``stack up`` must never kill a process it did not start, so when a port is
taken it names the holder instead: its pid and command line, and - when the
holder is a component of another otelbundle stack (one started from another
checkout or install) - that stack's data directory, so the person can reuse
or stop it knowingly. Linux only (``/proc``); elsewhere the holder is unknown.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
from dataclasses import dataclass
from pathlib import Path

_LISTEN = "0A"  # TCP state LISTEN in /proc/net/tcp


@dataclass(frozen=True)
class Holder:
    pid: int
    command: tuple[str, ...]
    cwd: Path | None

    def describe(self) -> str:
        shown = " ".join(self.command)
        return f"pid {self.pid} ({shown[:160]}{'...' if len(shown) > 160 else ''})"

    def stack_dir(self) -> Path | None:
        """The data directory of the otelbundle stack this process belongs to, if it does.

        Our runner starts each component in its data directory and records its
        pid in ``run/<name>.pid`` there; both must agree.
        """
        if self.cwd is None:
            return None
        for pid_file in (self.cwd / "run").glob("*.pid"):
            with contextlib.suppress(OSError, ValueError):
                if int(pid_file.read_text()) == self.pid:
                    return self.cwd
        return None


def _listening_inodes(port: int) -> set[str]:
    inodes: set[str] = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            lines = Path(table).read_text().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            fields = line.split()
            if len(fields) > 9 and fields[3] == _LISTEN and int(fields[1].rsplit(":", 1)[1], 16) == port:
                inodes.add(fields[9])
    return inodes


def port_holder(port: int) -> Holder | None:
    """The process listening on ``port``, when /proc lets us see it."""
    inodes = _listening_inodes(port)
    if not inodes:
        return None
    wanted = {f"socket:[{inode}]" for inode in inodes}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fds = os.listdir(entry / "fd")
        except OSError:
            continue
        for fd in fds:
            with contextlib.suppress(OSError):
                if os.readlink(entry / "fd" / fd) in wanted:
                    return _holder(int(entry.name))
    return None


def _holder(pid: int) -> Holder:
    try:
        raw = Path(f"/proc/{pid}/cmdline").read_bytes()
        command = tuple(part.decode(errors="replace") for part in raw.split(b"\0") if part)
    except OSError:
        command = ()
    try:
        cwd: Path | None = Path(os.readlink(f"/proc/{pid}/cwd"))
    except OSError:
        cwd = None
    return Holder(pid, command, cwd)


def fingerprint(command: tuple[str, ...] | list[str]) -> str:
    """What makes two component processes interchangeable: the binary and the
    contents of the config files it was started with (paths may differ between
    checkouts; contents must not)."""
    digest = hashlib.sha256()
    if command:
        digest.update(os.path.realpath(command[0]).encode())
    for arg in command[1:]:
        if "=" in arg and arg.lstrip("-").split("=", 1)[0] in ("config", "config.file"):
            path = arg.split("=", 1)[1]
            try:
                digest.update(Path(path).read_bytes())
            except OSError:
                digest.update(path.encode())
    return digest.hexdigest()[:16]


def descends_from(pid: int, ancestor: int) -> bool:
    """Whether ``pid`` is ``ancestor`` or started by it (a child, a grandchild): a component
    started through a wrapper script listens from the wrapper's child, which is still ours."""
    seen: set[int] = set()
    while pid > 1 and pid not in seen:
        if pid == ancestor:
            return True
        seen.add(pid)
        try:
            stat = Path(f"/proc/{pid}/stat").read_text()
            pid = int(stat.rsplit(")", 1)[-1].split()[1])  # the field after the state: the parent's pid
        except (OSError, ValueError, IndexError):
            return False
    return pid == ancestor


def runs_in(pid: int, data_dir: Path) -> bool:
    """Whether ``pid`` is a live (not zombie) process started in ``data_dir``, the folder the
    runner starts every component in: a pid file outlives its process (a crash, a reboot),
    and its number may since belong to any other process, which must not pass for ours.
    Where /proc cannot tell (not Linux), a live pid counts as ours."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return True
    if stat.rsplit(")", 1)[-1].split()[:1] == ["Z"]:
        return False  # exited, not yet collected by its parent
    try:
        cwd = os.readlink(f"/proc/{pid}/cwd")
    except OSError:
        return True
    return os.path.realpath(cwd) == os.path.realpath(data_dir)
