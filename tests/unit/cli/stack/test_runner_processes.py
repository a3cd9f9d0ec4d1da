"""Which processes the runner takes for its own: a pid file can outlive its process (a
crash, a reboot) and its number be reused; a component can be alive but still starting.
Stand-in processes on free ports, no real backend."""

from __future__ import annotations

import contextlib
import fcntl
import os
import pwd
import shutil
import signal
import socket
import stat
import subprocess
import sys
import tempfile
import time
import traceback
from collections.abc import Iterator
from pathlib import Path

import pytest

from harness.collector import own_network
from otelbundle import cli
from otelbundle.cli import main
from otelbundle.cli.stack import components as comp
from otelbundle.cli.stack.processes import port_in_use
from otelbundle.cli.stack.runner import ComponentStatus, Stack, StackError

ROOT = Path(__file__).resolve().parents[4]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def processes() -> Iterator[list[subprocess.Popen[bytes]]]:
    started: list[subprocess.Popen[bytes]] = []
    yield started
    for process in started:
        if process.poll() is None:
            process.kill()
        process.wait()


def otelbundle(*args: str, data_dir: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "otelbundle.cli", "stack", *args, "--config-root", str(ROOT)],
        env={**os.environ, "OTELBUNDLE_STACK_DIR": str(data_dir)},
        capture_output=True,
        text=True,
        timeout=60,
    )


def signalled(pid: int) -> bool:
    """Whether ``pid`` is exiting, a zombie, or has a signal pending (/proc/PID/status)."""
    fields = dict(
        line.split(":", 1) for line in Path(f"/proc/{pid}/status").read_text().splitlines() if ":" in line
    )
    state = fields["State"].split()[0]
    pending = int(fields["SigPnd"], 16) | int(fields["ShdPnd"], 16)
    return state in {"Z", "X"} or pending != 0


def test_a_stale_pid_file_whose_number_another_process_took_is_not_ours(
    tmp_path: Path, processes: list[subprocess.Popen[bytes]]
) -> None:
    """After a reboot or a crash, run/jaeger.pid names a pid that now belongs to someone
    else (here a `sleep` started elsewhere): status must not show it, down must not stop it."""
    data = tmp_path / "data"
    (data / "run").mkdir(parents=True)
    other = subprocess.Popen(["sleep", "60"], cwd=tmp_path)
    processes.append(other)
    (data / "run" / "jaeger.pid").write_text(str(other.pid))

    status = otelbundle("status", data_dir=data)
    jaeger = next(line for line in status.stdout.splitlines() if line.startswith("jaeger "))
    assert "not running" in jaeger and str(other.pid) not in jaeger, status.stdout

    down = otelbundle("down", data_dir=data)
    assert down.returncode == 0, down.stderr
    # A signal `down` sent has been delivered or is pending by the time it returned (kill is
    # synchronous): the process would be dying, a zombie, or hold it pending. No wait needed.
    assert not signalled(other.pid), "stack down signalled a process the stack did not start"
    assert other.poll() is None
    assert not (data / "run" / "jaeger.pid").exists()


def test_an_exited_component_not_yet_collected_is_not_running(
    tmp_path: Path, processes: list[subprocess.Popen[bytes]]
) -> None:
    """A killed component is a zombie until its parent collects it: not running."""
    data = tmp_path / "data"
    (data / "run").mkdir(parents=True)
    gone = subprocess.Popen(["true"], cwd=data)
    processes.append(gone)
    deadline = time.monotonic() + 5
    while Path(f"/proc/{gone.pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z":
        assert time.monotonic() < deadline
        time.sleep(0.01)
    (data / "run" / "alertmanager.pid").write_text(str(gone.pid))
    stack = Stack(data_dir=data, config_root=ROOT, env={}, say=lambda _: None)
    assert [s.running for s in stack.status() if s.name == "alertmanager"] == [False]


def test_up_waits_for_a_component_still_starting_instead_of_starting_a_second_copy(
    tmp_path: Path, processes: list[subprocess.Popen[bytes]]
) -> None:
    """`stack up` while a component it started is not healthy yet (slow start, a first
    `up` that timed out): a second copy could not bind the port and would take over the
    pid file, leaving the first running where `stack down` cannot see it."""
    data = tmp_path / "data"
    (data / "run").mkdir(parents=True)
    (data / "logs").mkdir()
    port = free_port()
    # The running one: healthy one second from now, started by the runner in its data dir.
    slow = subprocess.Popen(
        ["sh", "-c", f"sleep 1; exec {sys.executable} -m http.server {port} --bind 127.0.0.1"],
        cwd=data,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    processes.append(slow)
    (data / "run" / "prometheus.pid").write_text(str(slow.pid))
    second = tmp_path / "second-copy-started"
    fake = tmp_path / "prometheus"
    fake.write_text(f"#!/bin/sh\ntouch {second}\n")
    fake.chmod(fake.stat().st_mode | stat.S_IEXEC)
    said: list[str] = []
    stack = Stack(
        data_dir=data, config_root=ROOT, env={"OTELBUNDLE_PROMETHEUS_BIN": str(fake)}, say=said.append
    )
    stack.components = [
        comp.Component(
            name="prometheus",
            version="2.42.0",
            binary="prometheus",
            path_names=(),
            health_url=f"http://127.0.0.1:{port}/",
            ports=(port,),
        )
    ]
    stack.up(timeout=20)
    assert not second.exists(), said
    assert (data / "run" / "prometheus.pid").read_text() == str(slow.pid)
    assert any("not healthy yet: waiting for it" in line for line in said), said
    assert any("prometheus" in line and "healthy at" in line for line in said), said


def test_a_component_that_stays_unhealthy_is_named_with_what_to_do(
    tmp_path: Path, processes: list[subprocess.Popen[bytes]]
) -> None:
    data = tmp_path / "data"
    (data / "run").mkdir(parents=True)
    (data / "logs").mkdir()
    hung = subprocess.Popen(["sleep", "60"], cwd=data)
    processes.append(hung)
    (data / "run" / "prometheus.pid").write_text(str(hung.pid))
    stack = Stack(data_dir=data, config_root=ROOT, env={"OTELBUNDLE_PROMETHEUS_BIN": "/bin/false"}, say=print)
    port = free_port()
    stack.components = [
        comp.Component("prometheus", "2.42.0", "prometheus", (), f"http://127.0.0.1:{port}/", (port,))
    ]
    with pytest.raises(StackError) as raised:
        stack.up(timeout=1)
    assert "not healthy after 1s: prometheus" in str(raised.value)
    assert "`otelbundle stack down` stops it" in str(raised.value)
    assert hung.poll() is None


def _answering(port: int, cwd: Path) -> subprocess.Popen[bytes]:
    """A process that answers 200 on http://127.0.0.1:<port>/ once it listens."""
    server = subprocess.Popen(
        [sys.executable, "-m", "http.server", str(port), "--bind", "127.0.0.1"],
        cwd=cwd,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        with socket.socket() as sock:
            if sock.connect_ex(("127.0.0.1", port)) == 0:
                return server
        time.sleep(0.05)
    raise AssertionError("the stand-in server did not listen")


def _stranger_answering(
    tmp_path: Path, processes: list[subprocess.Popen[bytes]]
) -> tuple[int, subprocess.Popen[bytes]]:
    """A server on a free port started outside any stack folder: (port, its process)."""
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    port = free_port()
    stranger = _answering(port, elsewhere)
    processes.append(stranger)
    return port, stranger


def prometheus_only(data_dir: Path, port: int) -> Stack:
    """A stack of one component, Prometheus on ``port`` (its health URL there), saying nothing."""
    stack = Stack(data_dir=data_dir, config_root=ROOT, env={}, say=lambda _: None)
    stack.components = [
        comp.Component("prometheus", "2.42.0", "prometheus", (), f"http://127.0.0.1:{port}/", (port,))
    ]
    return stack


def test_status_names_who_answers_for_a_component_this_stack_does_not_run(
    tmp_path: Path, processes: list[subprocess.Popen[bytes]]
) -> None:
    """A health URL answered by a stranger (Debian's own service, a leftover) is not this
    stack's component: status said "not running  healthy" and exited 0 when all answered."""
    data = tmp_path / "data"
    (data / "run").mkdir(parents=True)
    port, stranger = _stranger_answering(tmp_path, processes)
    stack = prometheus_only(data_dir=data, port=port)
    [state] = stack.status()
    assert (state.running, state.healthy, state.ok) == (False, True, False)
    assert f"answered by pid {stranger.pid}" in state.served_by and "did not start" in state.served_by


def test_status_says_a_component_is_reused_from_another_stack(
    tmp_path: Path, processes: list[subprocess.Popen[bytes]]
) -> None:
    other = tmp_path / "other-stack"
    (other / "run").mkdir(parents=True)
    port = free_port()
    theirs = _answering(port, other)
    processes.append(theirs)
    (other / "run" / "prometheus.pid").write_text(str(theirs.pid))
    stack = prometheus_only(data_dir=tmp_path / "data", port=port)
    [state] = stack.status()
    assert state.ok and state.reused
    assert state.served_by == f"reused: the otelbundle stack in {other} runs it (pid {theirs.pid})"


def test_status_does_not_take_a_strangers_answer_for_its_running_component(
    tmp_path: Path, processes: list[subprocess.Popen[bytes]]
) -> None:
    """Our recorded process alive, its health port held by another process (another stack held
    Jaeger's 16686): status said "pid N  healthy" from the other one's answer, and counted it ok."""
    data = tmp_path / "data"
    (data / "run").mkdir(parents=True)
    port, stranger = _stranger_answering(tmp_path, processes)
    ours = subprocess.Popen(["sleep", "60"], cwd=data)
    processes.append(ours)
    (data / "run" / "prometheus.pid").write_text(str(ours.pid))
    stack = prometheus_only(data_dir=data, port=port)
    [state] = stack.status()
    assert (state.pid, state.running, state.healthy, state.ok) == (ours.pid, True, False, False)
    assert state.served_by.startswith(f"port {port} is held by pid {stranger.pid} ("), state.served_by
    assert state.served_by.endswith(f"not by this stack's pid {ours.pid}"), state.served_by
    assert ours.poll() is None and stranger.poll() is None


def test_status_takes_the_answer_of_a_process_its_component_started_for_its_own(tmp_path: Path) -> None:
    """A component run through a wrapper that does not exec: the listener is the recorded
    process's child, and its answer is the component's."""
    data = tmp_path / "data"
    (data / "run").mkdir(parents=True)
    port = free_port()
    # `; true` keeps sh from exec-ing the server: it runs as sh's child, in sh's process group.
    wrapper = subprocess.Popen(
        ["sh", "-c", f"{sys.executable} -m http.server {port} --bind 127.0.0.1 2>/dev/null; true"],
        cwd=data,
        start_new_session=True,
    )
    try:
        (data / "run" / "prometheus.pid").write_text(str(wrapper.pid))
        deadline = time.monotonic() + 30
        while not port_in_use(port):
            assert time.monotonic() < deadline and wrapper.poll() is None, "the wrapped server did not listen"
            time.sleep(0.05)
        stack = prometheus_only(data_dir=data, port=port)
        [state] = stack.status()
        assert (state.pid, state.healthy, state.ok, state.served_by) == (wrapper.pid, True, True, "")
    finally:
        os.killpg(wrapper.pid, signal.SIGKILL)
        wrapper.wait()


STATUS_BESIDE_A_FOREIGN_JAEGER = """
import os, socket, subprocess, sys, time
data, foreign = sys.argv[1], sys.argv[2]
server = subprocess.Popen([sys.executable, "-m", "http.server", "16686", "--bind", "127.0.0.1"], cwd=foreign,
                          stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
ours = subprocess.Popen(["sleep", "600"], cwd=data)
try:
    with open(os.path.join(data, "run", "jaeger.pid"), "w") as pid_file:
        pid_file.write(str(ours.pid))
    def listening():
        with socket.socket() as sock:
            return sock.connect_ex(("127.0.0.1", 16686)) == 0
    deadline = time.monotonic() + 30
    while not listening():
        assert time.monotonic() < deadline and server.poll() is None, "the foreign server did not listen"
        time.sleep(0.05)
    status = subprocess.run([sys.executable, "-m", "otelbundle.cli", "stack", "status", *sys.argv[3:]],
                            env={**os.environ, "OTELBUNDLE_STACK_DIR": data}, capture_output=True, text=True)
    print(server.pid, ours.pid, status.returncode)
    print(status.stdout, status.stderr)
finally:
    server.kill()
    ours.kill()
"""


def test_stack_status_as_typed_names_who_holds_jaegers_port(tmp_path: Path) -> None:
    """The reported case on the real port: Jaeger's pid alive, 16686 answered (its health URL,
    /api/services) by a stranger. In a network namespace of its own: CI's stack holds 16686."""
    isolate = own_network()
    if not isolate:
        pytest.skip("needs a network namespace of its own (root and unshare): CI's stack may hold 16686")
    data = tmp_path / "data"
    (data / "run").mkdir(parents=True)
    foreign = tmp_path / "foreign"
    (foreign / "api").mkdir(parents=True)
    (foreign / "api" / "services").write_text('{"data": []}')
    driver = tmp_path / "driver.py"
    driver.write_text(STATUS_BESIDE_A_FOREIGN_JAEGER)
    ran = subprocess.run(
        [*isolate, sys.executable, str(driver), str(data), str(foreign), "--config-root", str(ROOT)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert ran.returncode == 0, ran.stderr
    first, *printed = ran.stdout.splitlines()
    foreign_pid, jaeger_pid, exit_status = first.split()
    jaeger = next(line for line in printed if line.startswith("jaeger "))
    assert jaeger.split()[:5] == ["jaeger", "pid", jaeger_pid, "not", "healthy"], jaeger
    assert f"(port 16686 is held by pid {foreign_pid} (" in jaeger, jaeger
    assert jaeger.endswith(f"not by this stack's pid {jaeger_pid})"), jaeger
    assert exit_status == "3", ran.stdout


def test_a_second_up_or_down_on_the_same_stack_dir_waits_for_the_first(tmp_path: Path) -> None:
    """Two `stack up`s at once each started a copy of every component (the loser's pid
    overwrote the winner's: an orphan `down` never stopped), and a `down` during an `up`
    stopped what the `up` went on starting. Here the first one is simulated by holding
    the lock; `stack down` as typed must wait for it, say so, then do its work."""
    data = tmp_path / "data"
    (data / "run").mkdir(parents=True)
    with open(data / "run" / "lock", "a+b") as held:
        fcntl.flock(held, fcntl.LOCK_EX)
        down = subprocess.Popen(
            [sys.executable, "-m", "otelbundle.cli", "stack", "down", "--config-root", str(ROOT)],
            env={**os.environ, "OTELBUNDLE_STACK_DIR": str(data), "PYTHONUNBUFFERED": "1"},
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        try:
            assert down.stdout is not None
            first = down.stdout.readline()
            assert "another `otelbundle stack up` or `down` is running on" in first, first
            # Waiting, not done: the kernel lists it as blocked on the lock we hold.
            deadline = time.monotonic() + 60
            while not waits_for_a_lock(down.pid):
                assert down.poll() is None, "down did not wait for the stack's lock"
                assert time.monotonic() < deadline, "down never blocked on the stack's lock"
                time.sleep(0.01)
        finally:
            fcntl.flock(held, fcntl.LOCK_UN)
        assert down.wait(timeout=60) == 0


def waits_for_a_lock(pid: int) -> bool:
    """Whether ``pid`` is blocked in flock(): /proc/locks lists a waiter as ``N: -> FLOCK ... PID``."""
    return any(
        line.split()[1:3] == ["->", "FLOCK"] and line.split()[5] == str(pid)
        for line in Path("/proc/locks").read_text().splitlines()
    )


def test_a_relative_stack_dir_keeps_the_data_in_that_dir(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """OTELBUNDLE_STACK_DIR=stack: each component runs in the stack dir, so a relative
    path handed to it landed in stack/stack/prometheus instead of stack/prometheus."""
    seen = tmp_path / "seen.txt"
    fake = tmp_path / "prometheus"
    fake.write_text(f'#!/bin/sh\necho "$(pwd)" "$@" > {seen}\n')
    fake.chmod(fake.stat().st_mode | stat.S_IEXEC)
    monkeypatch.chdir(tmp_path)
    stack = Stack(
        data_dir=Path("stack"), config_root=ROOT, env={"OTELBUNDLE_PROMETHEUS_BIN": str(fake)}, say=print
    )
    with pytest.raises(StackError, match="exited during start-up"):
        stack.start_component(stack.component("prometheus"), timeout=5)
    cwd, *args = seen.read_text().split()
    [storage] = [a.split("=", 1)[1] for a in args if a.startswith("--storage.tsdb.path=")]
    assert Path(cwd, storage).resolve() == (tmp_path / "stack" / "prometheus").resolve()


def test_ctrl_c_during_down_says_what_still_runs(
    tmp_path: Path, processes: list[subprocess.Popen[bytes]]
) -> None:
    """A component slow to stop (a collector draining its queue gets 60 s): Ctrl-C exited
    130 without a word, leaving the person to guess what still runs."""
    data = tmp_path / "data"
    (data / "run").mkdir(parents=True)
    ready = tmp_path / "ready"
    termed = tmp_path / "termed"
    # Ignores SIGTERM (a slow stop), and says when it got one: then `down` is waiting for it.
    slow = subprocess.Popen(
        ["sh", "-c", f'trap "touch {termed}" TERM; touch {ready}; while :; do sleep 0.05; done'], cwd=data
    )
    processes.append(slow)
    (data / "run" / "prometheus.pid").write_text(str(slow.pid))
    while not ready.exists():
        time.sleep(0.01)
    down = subprocess.Popen(
        [sys.executable, "-m", "otelbundle.cli", "stack", "down", "--config-root", str(ROOT)],
        env={**os.environ, "OTELBUNDLE_STACK_DIR": str(data)},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    deadline = time.monotonic() + 60
    while not termed.exists():
        assert down.poll() is None, down.communicate()
        assert time.monotonic() < deadline, "down never sent prometheus its SIGTERM"
        time.sleep(0.01)
    down.send_signal(signal.SIGINT)
    _, err = down.communicate(timeout=30)
    assert down.returncode == 130
    assert "otelbundle stack down: interrupted; what was not stopped yet still runs" in err, err
    assert "Traceback" not in err


def test_up_records_again_a_component_left_running_without_its_pid_file(
    tmp_path: Path, processes: list[subprocess.Popen[bytes]]
) -> None:
    """A component of this stack dir running without its pid file (an older otelbundle's
    failed start, a deleted run/): `up` called it a stranger ('systemctl stop ...') and
    stopped; status said 'not running  healthy'. Now up records it and down stops it."""
    data = tmp_path / "data"
    (data / "run").mkdir(parents=True)
    (data / "logs").mkdir()
    port = free_port()
    component = comp.Component(
        "prometheus",
        "2.42.0",
        "prometheus",
        (),
        f"http://127.0.0.1:{port}/",
        (port,),
        args=("-m", "http.server", str(port), "--bind", "127.0.0.1"),
    )
    left = _answering(port, data)  # as the runner started it: in the stack dir, this binary and args
    processes.append(left)
    said: list[str] = []
    stack = Stack(
        data_dir=data, config_root=ROOT, env={"OTELBUNDLE_PROMETHEUS_BIN": sys.executable}, say=said.append
    )
    stack.components = [component]
    [before] = stack.status()
    assert "missing from its pid file" in before.served_by and not before.ok
    stack.up(timeout=10)
    assert any(f"found running (pid {left.pid})" in line for line in said), said
    assert (data / "run" / "prometheus.pid").read_text() == str(left.pid)
    [after] = stack.status()
    assert after.running and after.ok
    stack.down()
    assert left.wait(timeout=10) is not None


def test_ctrl_c_during_up_says_what_keeps_running(
    tmp_path: Path, processes: list[subprocess.Popen[bytes]]
) -> None:
    """Ctrl-C while `stack up` waits for a slow component: the components it started run in
    sessions of their own and keep running; up said only 'nothing half-written was kept in
    the cache'."""
    busy = [port for c in comp.components(ROOT, tmp_path) for port in c.ports if port_in_use(port)]
    # CI runs the demo's stack beside the tests: then `up` runs in a network namespace of its own.
    isolate = own_network() if busy else []
    if busy and not isolate:
        pytest.skip(
            f"the stack's ports {busy} are in use on this machine and no network namespace can be made"
        )
    data = tmp_path / "data"
    fake = tmp_path / "prometheus"
    fake.write_text("#!/bin/sh\nexec sleep 60\n")  # never healthy
    fake.chmod(fake.stat().st_mode | stat.S_IEXEC)
    bins = {
        f"OTELBUNDLE_{name}_BIN": str(fake)
        for name in ("VICTORIALOGS", "PROMETHEUS", "ALERTMANAGER", "JAEGER", "OTELCOL_BUNDLE")
    }
    up = subprocess.Popen(
        [*isolate, sys.executable, "-m", "otelbundle.cli", "stack", "up", "--config-root", str(ROOT)],
        env={**os.environ, **bins, "OTELBUNDLE_STACK_DIR": str(data), "PYTHONUNBUFFERED": "1"},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert up.stdout is not None
        for line in up.stdout:
            if "otelcol-bundle" in line and "started" in line:
                break
        up.send_signal(signal.SIGINT)  # the fake is never healthy: up is waiting for it now
        _, err = up.communicate(timeout=30)
    finally:
        for pid_file in (data / "run").glob("*.pid"):
            with contextlib.suppress(ProcessLookupError, ValueError):
                os.kill(int(pid_file.read_text()), signal.SIGKILL)
    assert up.returncode == 130
    assert "Components already started keep running: `otelbundle stack status` shows them" in err, err
    assert "`otelbundle stack down` stops them" in err


NOBODY = 65534


def as_another_user(*args: str, data_dir: Path) -> tuple[int, str]:
    """`otelbundle stack ARGS` in a child of this (root) process that became user nobody first:
    (exit status, stdout and stderr). A fork, not a new interpreter: this one may sit in a
    folder only root can read."""
    cli.build_parser()  # imports every command's modules: the child may not read the interpreter's
    reader, writer = os.pipe()
    child = os.fork()
    if child == 0:  # pragma: no cover - reported through the pipe and the exit status
        code = 99
        try:
            os.close(reader)
            os.dup2(writer, 1)
            os.dup2(writer, 2)
            sys.stdout = sys.stderr = open(writer, "w", buffering=1, closefd=False)  # noqa: SIM115
            os.setgroups([])
            os.setgid(NOBODY)
            os.setuid(NOBODY)
            os.environ["OTELBUNDLE_STACK_DIR"] = str(data_dir)
            comp.CACHE_ROOT = data_dir / "cache"  # that user's own, not root's (~root is closed to others)
            code = cli.main(["stack", *args, "--config-root", str(ROOT)])
        except BaseException:
            traceback.print_exc()
        finally:
            sys.stdout.flush()
            os._exit(code)
    os.close(writer)
    with open(reader) as said:
        output = said.read()
    _, status = os.waitpid(child, 0)
    return os.waitstatus_to_exitcode(status), output


@pytest.fixture
def roots_stack_dir() -> Iterator[Path]:
    """A stack dir root started a stack in (run/ is root's, 0755), which others may read."""
    data = Path(tempfile.mkdtemp(prefix="otelbundle-roots-stack-"))
    data.chmod(0o755)
    (data / "run").mkdir()
    (data / "run" / "lock").touch()
    yield data
    shutil.rmtree(data)


needs_root = pytest.mark.skipif(os.getuid() != 0, reason="acts as another user: needs root to become one")


@needs_root
def test_down_on_a_stack_another_user_started_names_component_pid_and_owner(
    roots_stack_dir: Path, processes: list[subprocess.Popen[bytes]]
) -> None:
    """`sudo otelbundle stack up`, then `otelbundle stack down` as yourself (same stack dir):
    a PermissionError traceback from the lock file, or, with it writable, from os.kill."""
    theirs = subprocess.Popen(["sleep", "600"], cwd=roots_stack_dir)
    processes.append(theirs)
    (roots_stack_dir / "run" / "jaeger.pid").write_text(str(theirs.pid))
    for lock_mode in (0o644, 0o666):
        (roots_stack_dir / "run" / "lock").chmod(lock_mode)
        status, said = as_another_user("down", data_dir=roots_stack_dir)
        assert status == 1, said
        assert said == (
            f"otelbundle stack down: jaeger (pid {theirs.pid}) runs as user root, not as you "
            f"({pwd.getpwuid(NOBODY).pw_name}): not allowed to stop it, so nothing was stopped. "
            f"Run `OTELBUNDLE_STACK_DIR={roots_stack_dir} otelbundle stack down` as root\n"
        )
        assert theirs.poll() is None
        assert (roots_stack_dir / "run" / "jaeger.pid").exists()


@needs_root
def test_up_or_down_in_a_stack_dir_another_user_owns_says_whose_it_is(roots_stack_dir: Path) -> None:
    """Nothing runs, but run/ is root's: the lock (and the pid files) cannot be written."""
    for action, *options in (["down"], ["up", "--no-install"]):
        status, said = as_another_user(action, *options, data_dir=roots_stack_dir)
        assert status == 1, said
        assert said.splitlines()[-1] == (
            f"otelbundle stack {action}: cannot write to {roots_stack_dir / 'run'} (Permission denied): this stack "
            f"dir belongs to user root, not to you ({pwd.getpwuid(NOBODY).pw_name}). Run the command as root, or "
            "use a stack dir of your own (OTELBUNDLE_STACK_DIR=DIR)"
        ), said


@needs_root
def test_a_lock_file_root_left_in_a_users_stack_dir_does_not_lock_that_user_out(
    roots_stack_dir: Path,
) -> None:
    """`sudo otelbundle stack down` in a user's stack dir left run/lock root's (0644): that
    user's next `stack up` or `down` ended in a PermissionError traceback opening it."""
    (roots_stack_dir / "run" / "lock").unlink()
    os.chown(roots_stack_dir / "run", NOBODY, NOBODY)
    assert otelbundle("down", data_dir=roots_stack_dir).returncode == 0
    assert (roots_stack_dir / "run" / "lock").stat().st_uid == 0
    assert as_another_user("down", data_dir=roots_stack_dir) == (
        0,
        f"  nothing to stop: no component of the stack in {roots_stack_dir} was running\n",
    )


def test_status_ends_with_what_to_do_when_a_component_is_down(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """A reviewer's Prometheus died of a full disk: `status` said "not running" and nothing
    about where to look; its own log says why."""
    monkeypatch.setenv("OTELBUNDLE_STACK_DIR", str(tmp_path / "stack"))
    # What runs on this machine's ports (CI's own stack) must not decide it: the states are given.
    log = tmp_path / "x.log"
    states = [
        ComponentStatus("victorialogs", 11, True, True, "http://127.0.0.1:9428/health", log),
        ComponentStatus("prometheus", None, False, False, "http://127.0.0.1:9090/-/ready", log),
        ComponentStatus("jaeger", 12, True, False, "http://127.0.0.1:16686/", log),
    ]
    monkeypatch.setattr(Stack, "status", lambda self: states)
    assert main(["stack", "status", "--config-root", str(ROOT)]) == 3
    last = capsys.readouterr().out.splitlines()[-1]
    assert (
        last == "why: otelbundle stack logs prometheus (and jaeger); start what is down: otelbundle stack up"
    )
    states[1:] = []
    assert main(["stack", "status", "--config-root", str(ROOT)]) == 0
    assert "why:" not in capsys.readouterr().out
