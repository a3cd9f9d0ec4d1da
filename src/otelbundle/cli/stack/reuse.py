"""What the runner makes of a process on a component's port that no pid file of this stack names.

The same component of another otelbundle stack (same binary, same config contents) is
reused; one of this stack dir left without its pid file is recorded again; anything
else is named with its pid and command line, and never stopped.
"""

from __future__ import annotations

import urllib.parse
from collections.abc import Mapping
from pathlib import Path

from otelbundle.cli.stack.components import Component
from otelbundle.cli.stack.holders import Holder, descends_from, fingerprint, port_holder
from otelbundle.cli.stack.processes import healthy


def _same_program(component: Component, holder: Holder, env: Mapping[str, str]) -> bool:
    binary = component.locate(env) or component.binary
    return fingerprint(holder.command) == fingerprint([binary, *component.args])


def ours_unrecorded(component: Component, holder: Holder, data_dir: Path, env: Mapping[str, str]) -> bool:
    """The holder runs in this stack dir with this component's binary and config."""
    if holder.cwd is None or holder.cwd.resolve() != data_dir.resolve():
        return False
    return _same_program(component, holder, env)


def reusable(component: Component, holder: Holder | None, env: Mapping[str, str]) -> bool:
    """The same component of another otelbundle stack, healthy."""
    if holder is None or holder.stack_dir() is None or not healthy(component.health_url):
        return False
    return _same_program(component, holder, env)


def served_by(component: Component, data_dir: Path, env: Mapping[str, str]) -> tuple[str, bool]:
    """Who answers a component's health URL when its process is not this stack's; whether it is reused."""
    port = urllib.parse.urlsplit(component.health_url).port
    holder = port_holder(port) if port is not None else None
    if holder is None:
        return "answered by a process this stack did not start", False
    if ours_unrecorded(component, holder, data_dir, env):
        return (
            f"pid {holder.pid}, started in this stack dir but missing from its pid file: `stack up` records it",
            False,
        )
    other = holder.stack_dir()
    if other is not None and other.resolve() != data_dir.resolve():
        return f"reused: the otelbundle stack in {other} runs it (pid {holder.pid})", True
    return f"answered by {holder.describe()}, which this stack did not start", False


def foreign_listener(component: Component, pid: int) -> Holder | None:
    """The process listening on the component's health port when it is neither ``pid`` (this
    stack's process for it) nor one it started: then the health URL's answer is not ours.
    None when ours, when nothing listens, or when /proc does not show the holder."""
    port = urllib.parse.urlsplit(component.health_url).port
    holder = port_holder(port) if port is not None else None
    if holder is None or descends_from(holder.pid, pid):
        return None
    return holder


def held_by(component: Component, pid: int, holder: Holder) -> str:
    """What ``status`` says when ``holder``, not this stack's ``pid``, listens on the health port."""
    port = urllib.parse.urlsplit(component.health_url).port
    other = holder.stack_dir()
    whose = f", of the otelbundle stack in {other}" if other is not None else ""
    return f"port {port} is held by {holder.describe()}{whose}, not by this stack's pid {pid}"


def port_conflict(component: Component, busy: list[int], holder: Holder | None) -> str:
    """Why ``up`` stops at a port another process holds, and what to do about it."""
    ports = ", ".join(map(str, busy))
    if holder is None:
        return (
            f"{component.name}: port(s) {ports} on 127.0.0.1 are used by another process; "
            "stop it (or the other stack) first"
        )
    other = holder.stack_dir()
    if other is not None:
        return (
            f"{component.name}: port(s) {ports} are used by another otelbundle stack (data in {other}, "
            f"{holder.describe()}), started from a different binary or config. Stop it with "
            f"`OTELBUNDLE_STACK_DIR={other} otelbundle stack down`, or use that stack instead."
        )
    program = Path(holder.command[0]).name if holder.command else ""
    how = f"`kill {holder.pid}`"
    if program and Path(component.binary).name in program:
        # The same backend installed as a system service (Debian's prometheus, prometheus-alertmanager).
        how += f", or if it is a system service `systemctl stop {program}`"
    return (
        f"{component.name}: port(s) {ports} on 127.0.0.1 are used by another process, {holder.describe()}, "
        f"which this stack did not start and will not stop. Stop it yourself ({how}) and run again."
    )
