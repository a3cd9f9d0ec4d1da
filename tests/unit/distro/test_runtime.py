"""The exit flush under SIGTERM, in real fork children: it ends before the process dies of the signal.

Each scenario runs in a forked child (the handler really re-raises SIGTERM) and
writes what happened to a pipe; the parent reads it and the child's exit status.
A child that outlives its scenario exits with status 3 after ``LINGER_S``.
"""

from __future__ import annotations

import os
import select
import signal
import threading
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from otelbundle.distro.runtime import SUMMARY_GRACE_SECONDS, Runtime
from otelbundle.sdk.export.report import DropReport

LINGER_S = 5.0  # a child still alive this long after its scenario was not killed by SIGTERM
CHILD_BOUND_S = 15.0


@dataclass
class FakeRuntime(Runtime):
    """A runtime whose providers are the test's, not the process's global ones."""

    fakes: list[Any] = field(default_factory=list)

    def providers(self) -> list[Any]:  # type: ignore[override]
        return self.fakes


class SlowProvider:
    """A provider whose shutdown takes ``seconds`` (an export still going), then says so."""

    def __init__(self, say: Callable[[str], None], seconds: float, before: Callable[[], None] = lambda: None):
        self.say = say
        self.seconds = seconds
        self.before = before
        self.started = threading.Event()

    def shutdown(self) -> None:
        self.started.set()
        self.before()
        time.sleep(self.seconds)
        self.say("flushed")


@dataclass
class Child:
    lines: list[str]
    signal: int | None  # the signal that ended it, None if it exited
    code: int | None
    seconds: float


def in_child(scenario: Callable[[Callable[[str], None]], None]) -> Child:
    """Fork; the child runs ``scenario(say)`` on its main thread, ``say`` writing a line to the parent."""
    read, write = os.pipe()
    started = time.monotonic()
    pid = os.fork()
    if pid == 0:
        os.close(read)
        code = 3
        try:
            signal.signal(signal.SIGTERM, signal.SIG_DFL)  # the handler under test installs itself
            scenario(lambda line: os.write(write, line.encode() + b"\n") and None)
            time.sleep(LINGER_S)
        except BaseException:
            os.write(write, traceback.format_exc().encode())
            code = 4
        finally:
            os._exit(code)
    os.close(write)
    data = b""
    end = started + CHILD_BOUND_S
    try:
        while True:
            ready, _, _ = select.select([read], [], [], max(0.0, end - time.monotonic()))
            chunk = os.read(read, 65536) if ready else b""
            if not chunk:
                break
            data += chunk
    finally:
        os.close(read)
    if time.monotonic() >= end:
        os.kill(pid, signal.SIGKILL)
    _, status = os.waitpid(pid, 0)
    seconds = time.monotonic() - started
    if os.WIFSIGNALED(status):
        return Child(data.decode().splitlines(), os.WTERMSIG(status), None, seconds)
    return Child(data.decode().splitlines(), None, os.WEXITSTATUS(status), seconds)


def _runtime(say: Callable[[str], None], timeout: float = 5.0) -> FakeRuntime:
    report = DropReport(endpoint="http://c:4318", emit=say)
    report.refused("spans")  # something to summarise (counted, not said): the summary comes last
    return FakeRuntime(report=report, shutdown_timeout=timeout)


def _said_in_order(child: Child) -> list[str]:
    return [line.split(":")[0] if line.startswith("otelbundle") else line for line in child.lines]


def test_sigterm_while_idle_flushes_then_dies_of_sigterm() -> None:
    """The usual `docker stop`: the handler runs the flush, then the exit status is SIGTERM's."""

    def scenario(say: Callable[[str], None]) -> None:
        runtime = _runtime(say)
        runtime.fakes.append(SlowProvider(say, 0.2))
        assert runtime.flush_on_sigterm()
        os.kill(os.getpid(), signal.SIGTERM)

    child = in_child(scenario)
    assert child.signal == signal.SIGTERM, child
    assert child.lines[0] == "flushed", child
    assert "telemetry not delivered" in child.lines[1], child


def test_sigterm_during_the_flush_on_the_same_thread_lets_it_finish_then_dies_of_sigterm() -> None:
    """A multiprocessing child flushing in its exit hook is SIGTERMed (`with Pool()` ends): the
    handler interrupts the flush on the main thread; the flush goes on, and the child dies after it."""

    def scenario(say: Callable[[str], None]) -> None:
        runtime = _runtime(say)
        runtime.fakes.append(SlowProvider(say, 0.3, before=lambda: os.kill(os.getpid(), signal.SIGTERM)))
        assert runtime.flush_on_sigterm()
        runtime.shutdown()  # on the main thread, where the handler will run
        say("shutdown returned")

    child = in_child(scenario)
    assert child.signal == signal.SIGTERM, child
    assert _said_in_order(child) == ["flushed", "otelbundle"], child  # summary said, then dead


def test_sigterm_while_another_thread_flushes_waits_for_that_flush() -> None:
    def scenario(say: Callable[[str], None]) -> None:
        runtime = _runtime(say)
        provider = SlowProvider(say, 0.3)
        runtime.fakes.append(provider)
        assert runtime.flush_on_sigterm()
        threading.Thread(target=runtime.shutdown, daemon=True).start()
        assert provider.started.wait(5)
        os.kill(os.getpid(), signal.SIGTERM)

    child = in_child(scenario)
    assert child.signal == signal.SIGTERM, child
    assert _said_in_order(child) == ["flushed", "otelbundle"], child


def test_the_wait_for_another_threads_flush_ends_at_its_deadline() -> None:
    timeout = 0.5

    def scenario(say: Callable[[str], None]) -> None:
        runtime = _runtime(say, timeout=timeout)
        provider = SlowProvider(say, 60.0)  # a flush that never ends
        runtime.fakes.append(provider)
        assert runtime.flush_on_sigterm()
        threading.Thread(target=runtime.shutdown, daemon=True).start()
        assert provider.started.wait(5)
        os.kill(os.getpid(), signal.SIGTERM)

    child = in_child(scenario)
    assert child.signal == signal.SIGTERM, child
    assert child.seconds < timeout + SUMMARY_GRACE_SECONDS + 2.0, child
    assert "flushed" not in child.lines
    assert any("did not finish within 0.5s" in line for line in child.lines), child


def test_a_second_shutdown_waits_for_the_first_and_gets_its_result() -> None:
    said: list[str] = []
    runtime = _runtime(said.append)
    runtime.fakes.append(SlowProvider(said.append, 0.3))
    first = threading.Thread(target=runtime.shutdown)
    first.start()
    while not runtime.fakes[0].started.is_set():
        time.sleep(0.01)
    assert runtime.shutdown() is True
    assert said[0] == "flushed"
    first.join()
    assert runtime.shutdown() is True  # done: returns at once


def test_a_second_shutdown_waits_past_slow_stoppers_for_the_flush_itself() -> None:
    """Stopping our parts (the alert engine: up to 2 s + 2 s) comes before the providers' flush,
    which then gets its whole deadline: a waiter counting from the start gave up before it began."""
    said: list[str] = []
    runtime = _runtime(said.append, timeout=0.5)
    runtime.stoppers.append(lambda: time.sleep(1.0))
    runtime.fakes.append(SlowProvider(said.append, 0.3))
    first = threading.Thread(target=runtime.shutdown)
    first.start()
    time.sleep(0.05)  # inside the stopper
    assert runtime.shutdown() is True
    assert said[0] == "flushed" and any(line.startswith("otelbundle") for line in said), said
    first.join()


def test_the_summary_at_an_expired_deadline_counts_what_our_queues_still_held() -> None:
    said: list[str] = []
    report = DropReport(endpoint="http://c:4318", emit=said.append)
    report.holding("spans", lambda: 5)
    report.holding("logs", lambda: 5)
    release = threading.Event()

    class Hanging:
        def shutdown(self) -> None:
            release.wait(10)

    runtime = FakeRuntime(report=report, shutdown_timeout=0.2, fakes=[Hanging()])
    try:
        assert runtime.shutdown() is False
    finally:
        release.set()
    assert said == [
        "otelbundle: telemetry not delivered to http://c:4318: spans=5 not flushed, logs=5 not flushed.",
        "otelbundle: telemetry flush did not finish within 0.2s; exiting anyway.",
    ]
