"""What a person reads when `stack up` or `down` cannot do its work: a stack dir that cannot
be written, a component that exits at once, a port another program holds, nothing to stop.
Stand-in processes on free ports, no real backend."""

from __future__ import annotations

import contextlib
import errno
import os
import pwd
import shutil
import signal
import stat
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from otelbundle.cli.stack import components as comp
from otelbundle.cli.stack.install.cache import entry_is_valid, record_binary
from otelbundle.cli.stack.runner import Stack, StackError
from otelbundle.cli.stack.stack_dir import write_fault

from .test_runner_processes import _answering, free_port, otelbundle

ROOT = Path(__file__).resolve().parents[4]


@pytest.fixture
def processes() -> Iterator[list[subprocess.Popen[bytes]]]:
    started: list[subprocess.Popen[bytes]] = []
    yield started
    for process in started:
        if process.poll() is None:
            process.kill()
        process.wait()


def script(path: Path, body: str) -> Path:
    path.write_text(f"#!/bin/sh\n{body}\n")
    path.chmod(path.stat().st_mode | stat.S_IEXEC)
    return path


def one_component(data: Path, name: str, binary: Path, port: int, said: list[str]) -> Stack:
    env = {f"OTELBUNDLE_{name.upper()}_BIN": str(binary)}
    stack = Stack(data_dir=data, config_root=ROOT, env=env, say=said.append)
    stack.components = [comp.Component(name, "1", name, (), f"http://127.0.0.1:{port}/", (port,))]
    return stack


def running_in(folder: Path) -> list[int]:
    """Live (not zombie) processes whose working directory is ``folder``: the runner starts
    every component there."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            with contextlib.suppress(OSError, IndexError):
                state = (entry / "stat").read_text().rsplit(")", 1)[1].split()[0]
                if state not in ("Z", "X") and Path(os.readlink(entry / "cwd")) == folder:
                    found.append(int(entry.name))
    return found


def test_a_pid_file_that_cannot_be_written_stops_the_component_it_started(tmp_path: Path) -> None:
    """A full disk (or any write fault) at run/<name>.pid: `up` ended in an OSError traceback
    and left the process it had just started running with no pid file, where `down` never
    finds it. Here the pid file's path is a folder, which no write can replace."""
    data = tmp_path / "data"
    (data / "run" / "prometheus.pid").mkdir(parents=True)
    fake = script(tmp_path / "prometheus", "exec sleep 600")
    stack = one_component(data, "prometheus", fake, free_port(), [])
    try:
        with pytest.raises(StackError) as raised:
            stack.up(timeout=30)
        assert str(raised.value).startswith(f"cannot write to {data / 'run' / 'prometheus.pid'}: "), (
            raised.value
        )
    finally:
        left = running_in(data)
        for pid in left:
            os.kill(pid, signal.SIGKILL)
    assert not left, "the component started without a pid file was left running"


def test_write_fault_says_read_only_or_full_with_what_to_do(tmp_path: Path) -> None:
    path = tmp_path / "run" / "lock"
    read_only = write_fault(OSError(errno.EROFS, "Read-only file system", str(path)), tmp_path)
    assert str(read_only) == (
        f"cannot write to {path}: the file system is read-only. Free some space or make it writable, "
        "or use a stack dir on another disk (OTELBUNDLE_STACK_DIR=DIR)"
    )
    full = str(write_fault(OSError(errno.ENOSPC, "No space left on device", str(path)), tmp_path))
    assert full.startswith(f"cannot write to {path}: no space left on its device (") and " MB free)" in full


def test_up_and_down_in_a_read_only_stack_dir_say_so(tmp_path: Path) -> None:
    """A stack dir on a read-only mount: `up` and `down` ended in an OSError traceback (EROFS)."""
    unshare = shutil.which("unshare")
    data = tmp_path / "data"
    # A stack dir used before (a `down` where nothing was ever started writes nothing).
    (data / "run").mkdir(parents=True)
    mount = f"mount --bind {data} {data} && mount -o remount,ro,bind {data} {data}"
    if unshare is None or subprocess.run([unshare, "--mount", "sh", "-c", mount]).returncode != 0:
        pytest.skip("needs a mount namespace of its own (root and unshare) to make a read-only stack dir")
    isolated = [unshare, "--mount", "sh", "-c", f'{mount} && exec "$@"', "sh"]
    for action, *options in (["up", "--no-install"], ["down"]):
        ran = subprocess.run(
            [
                *isolated,
                sys.executable,
                "-m",
                "otelbundle.cli",
                "stack",
                action,
                *options,
                "--config-root",
                str(ROOT),
            ],
            env={**os.environ, "OTELBUNDLE_STACK_DIR": str(data)},
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert ran.returncode == 1, ran
        assert "Traceback" not in ran.stderr, ran.stderr
        assert ran.stderr.splitlines()[-1] == (
            f"otelbundle stack {action}: cannot write to {data / 'run' / 'lock'}: the file system is read-only. Free "
            "some space or make it writable, or use a stack dir on another disk (OTELBUNDLE_STACK_DIR=DIR)"
        ), ran.stderr


def test_a_component_that_exits_at_once_shows_how_it_ended_and_only_this_starts_lines(
    tmp_path: Path,
) -> None:
    """The message showed the log's last 20 lines, which began with an earlier run's (here:
    'listening ... received SIGTERM'), and not whether it exited with an error or a signal."""
    data = tmp_path / "data"
    (data / "logs").mkdir(parents=True)
    (data / "logs" / "alertmanager.log").write_text("earlier run: listening on 9093\nearlier run: SIGTERM\n")
    fake = script(tmp_path / "alertmanager", 'echo "config error on line 3" >&2\nexit 2')
    stack = one_component(data, "alertmanager", fake, free_port(), [])
    with pytest.raises(StackError) as raised:
        stack.up(timeout=30)
    assert str(raised.value) == "alertmanager exited during start-up (exit status 2):\nconfig error on line 3"


def test_a_component_killed_at_once_by_a_signal_that_wrote_nothing_says_so(tmp_path: Path) -> None:
    """A truncated binary dies of SIGSEGV or SIGBUS before writing a line: the message was
    'exited during start-up:' and an empty line."""
    data = tmp_path / "data"
    fake = script(tmp_path / "jaeger", "kill -SEGV $$")
    stack = one_component(data, "jaeger", fake, free_port(), [])
    with pytest.raises(StackError) as raised:
        stack.up(timeout=30)
    assert str(raised.value) == (
        f"jaeger exited during start-up (killed by SIGSEGV):\n(it wrote nothing to {data / 'logs' / 'jaeger.log'})"
    )


def test_a_port_conflict_names_what_this_up_started_and_left_running(
    tmp_path: Path, processes: list[subprocess.Popen[bytes]]
) -> None:
    """Prometheus started, then Alertmanager's port was another program's: the message named
    the port and the program but not that Prometheus now ran, nor how to stop it."""
    data = tmp_path / "data"
    data.mkdir()
    ours, theirs = free_port(), free_port()
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    processes.append(_answering(theirs, elsewhere))
    env = {"OTELBUNDLE_PROMETHEUS_BIN": sys.executable, "OTELBUNDLE_ALERTMANAGER_BIN": "/bin/false"}
    stack = Stack(data_dir=data, config_root=ROOT, env=env, say=lambda _: None)
    stack.components = [
        comp.Component(
            "prometheus",
            "1",
            "prometheus",
            (),
            f"http://127.0.0.1:{ours}/",
            (ours,),
            args=("-m", "http.server", str(ours), "--bind", "127.0.0.1"),
        ),
        comp.Component("alertmanager", "1", "alertmanager", (), f"http://127.0.0.1:{theirs}/", (theirs,)),
    ]
    try:
        with pytest.raises(StackError) as raised:
            stack.up(timeout=60)
        pid = int((data / "run" / "prometheus.pid").read_text())
        message = str(raised.value)
        assert message.startswith(
            f"alertmanager: port(s) {theirs} on 127.0.0.1 are used by another process"
        ), message
        assert message.endswith(
            f"\nStarted by this `up` and still running: prometheus (pid {pid}). `otelbundle stack down` stops "
            "them; `otelbundle stack up` again starts the rest once the cause is fixed"
        ), message
    finally:
        stack.down(timeout=10)


def test_down_with_nothing_running_says_so(tmp_path: Path) -> None:
    """`stack down` with nothing running printed nothing at all, as if it had stopped the stack."""
    data = tmp_path / "data"
    down = otelbundle("down", data_dir=data)
    assert down.returncode == 0, down.stderr
    assert down.stdout == f"  nothing to stop: no component of the stack in {data} was running\n"


NOBODY = 65534


@pytest.mark.skipif(os.getuid() != 0, reason="root's `up` in another user's stack dir: needs root")
def test_root_does_not_start_the_stack_in_another_users_stack_dir(tmp_path: Path) -> None:
    """`sudo otelbundle stack up` with the user's HOME (or OTELBUNDLE_STACK_DIR) started the stack
    as root in that user's stack dir: the collector's queue, Jaeger's and Prometheus' data
    became root's, and the user's own next `up` failed ('open .../otelcol/queue/...:
    permission denied'). Now root's `up` there starts nothing and says whose the dir is."""
    data = tmp_path / "users-stack"
    data.mkdir()
    os.chown(data, NOBODY, NOBODY)
    fake = script(tmp_path / "fake", "exit 0")  # never reached: nothing may start
    bins = {
        f"OTELBUNDLE_{name}_BIN": str(fake)
        for name in ("VICTORIALOGS", "PROMETHEUS", "ALERTMANAGER", "JAEGER", "OTELCOL_BUNDLE")
    }
    up = subprocess.run(
        [sys.executable, "-m", "otelbundle.cli", "stack", "up", "--no-install", "--config-root", str(ROOT)],
        env={**os.environ, **bins, "OTELBUNDLE_STACK_DIR": str(data)},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert up.returncode == 1, up
    owner = pwd.getpwuid(NOBODY).pw_name
    assert up.stderr.splitlines()[-1].startswith(
        f"otelbundle stack up: {data} belongs to user {owner}, and you are root: started as root, the stack "
        f"would leave files there that {owner}'s own `otelbundle stack up` cannot write (permission denied), "
        f"so nothing was started. Run `otelbundle stack up` as {owner} (without sudo)"
    ), up.stderr
    assert list(data.iterdir()) == []


def test_a_cached_binary_cut_short_is_named_not_started_and_installed_again(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A cache entry whose binary was cut short (a full disk, a copy interrupted) passed as
    installed: `stack install` said 'cached', `stack up` started it and it died at once
    (SIGSEGV, an empty log). Now the sha256 and size recorded at install are checked."""
    monkeypatch.setattr(comp, "CACHE_ROOT", tmp_path / "cache")
    entry = comp.cache_entry("alertmanager", "1")
    entry.mkdir(parents=True)
    binary = script(entry / "alertmanager", "exec sleep 600\n# " + "padding " * 1000)
    record_binary(binary)
    (entry / ".stamp").write_text("release 0123\n")
    assert entry_is_valid(entry, "alertmanager", None)
    installed = binary.stat().st_size
    binary.write_bytes(binary.read_bytes()[:4000])  # cut short
    assert not entry_is_valid(entry, "alertmanager", None)  # `stack install` obtains it again
    data = tmp_path / "data"
    stack = one_component(data, "alertmanager", binary, free_port(), [])
    stack.env.pop("OTELBUNDLE_ALERTMANAGER_BIN")  # found in the cache
    with pytest.raises(StackError) as raised:
        stack.up(timeout=30)
    assert str(raised.value) == (
        f"alertmanager: {binary} is damaged (4000 bytes where {installed} were installed; a copy "
        "cut short, a full disk): not started. `otelbundle stack install alertmanager` obtains it again"
    )
    assert running_in(data) == []
