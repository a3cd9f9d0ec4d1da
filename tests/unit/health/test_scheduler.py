"""Scheduling, timeouts and the one-run-in-flight rule, driven by a fake clock through tick()."""

from __future__ import annotations

import threading
from dataclasses import dataclass, field

from otelbundle.health.checks import CheckSpec
from otelbundle.health.model import CheckResult, Status, Verdict
from otelbundle.health.scheduler import Scheduler


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@dataclass
class GatedCheck:
    """Each run blocks until released; then returns the next queued verdict."""

    spec: CheckSpec
    verdicts: list[Verdict] = field(default_factory=list)
    release: threading.Event = field(default_factory=threading.Event)
    started: threading.Semaphore = field(default_factory=lambda: threading.Semaphore(0))
    previous_seen: list[Status | None] = field(default_factory=list)

    def run(self, previous: Status | None) -> Verdict:
        self.previous_seen.append(previous)
        self.started.release()
        self.release.wait(10)
        self.release.clear()
        return self.verdicts.pop(0)


class Collected:
    def __init__(self) -> None:
        self.results: list[CheckResult] = []
        self.changed = threading.Condition()

    def __call__(self, result: CheckResult) -> None:
        with self.changed:
            self.results.append(result)
            self.changed.notify_all()

    def wait(self, count: int) -> list[CheckResult]:
        with self.changed:
            assert self.changed.wait_for(lambda: len(self.results) >= count, 10), self.results
            return list(self.results)


def make(timeout: float = 2.0) -> tuple[Scheduler, GatedCheck, Clock, Collected]:
    clock, collected = Clock(), Collected()
    check = GatedCheck(CheckSpec("db", "sql", interval_s=10, timeout_s=timeout))
    return Scheduler([check], collected, clock=clock), check, clock, collected


def test_runs_when_due_and_passes_the_previous_status() -> None:
    scheduler, check, clock, collected = make()
    check.verdicts = [Verdict(Status.HEALTHY, "fine"), Verdict(Status.DEGRADED, "slow")]
    assert scheduler.tick() <= 2.0  # next wake: the run's timeout
    assert check.started.acquire(timeout=5)
    check.release.set()
    first = collected.wait(1)[0]
    assert (first.name, first.kind, first.status, first.message) == ("db", "sql", Status.HEALTHY, "fine")
    clock.now += 5
    scheduler.tick()  # not due yet
    assert not check.started.acquire(timeout=0.2)
    clock.now += 5
    scheduler.tick()
    assert check.started.acquire(timeout=5)
    check.release.set()
    assert collected.wait(2)[1].status is Status.DEGRADED
    assert check.previous_seen == [None, Status.HEALTHY]
    assert [r.name for r in scheduler.results()] == ["db"]


def test_hung_run_is_abandoned_at_timeout_and_later_runs_are_skipped_not_stacked() -> None:
    scheduler, check, clock, collected = make(timeout=2.0)
    check.verdicts = [Verdict(Status.HEALTHY, "late answer"), Verdict(Status.HEALTHY, "back")]
    scheduler.tick()
    assert check.started.acquire(timeout=5)
    clock.now += 2.0
    scheduler.tick()
    timed_out = collected.wait(1)[0]
    assert (timed_out.status, timed_out.message) == (Status.FAILING, "timed out after 2s")
    assert timed_out.duration_s == 2.0
    for _ in range(3):  # three more intervals while the first run is still stuck
        clock.now += 10
        scheduler.tick()
    assert scheduler.skipped() == {"db": 3}
    assert not check.started.acquire(timeout=0.2)  # no second thread started
    # Each skipped interval is a failing result, as its run would have been: a hung check
    # gave one result and then none, and alert rules over its spans resolved meanwhile.
    assert [(r.status, r.message) for r in collected.wait(4)] == [
        (Status.FAILING, "timed out after 2s"),
        *(
            (Status.FAILING, f"timed out after 2s; still not returned after {s}s, so this run was skipped")
            for s in (12, 22, 32)
        ),
    ]
    assert scheduler.results()[0].message.endswith("after 32s, so this run was skipped")  # /readyz
    check.release.set()  # the hung run finally returns: its answer is stale, not reported
    for _ in range(50):  # the next due tick after the stuck thread has ended starts a new run
        clock.now += 10
        scheduler.tick()
        if check.started.acquire(timeout=0.1):
            break
    else:
        raise AssertionError("no new run after the hung one ended")
    check.release.set()
    with collected.changed:
        assert collected.changed.wait_for(lambda: collected.results[-1].message == "back", 10)
    assert collected.results[-1].status is Status.HEALTHY


def test_a_check_that_raises_is_failing_with_the_exception() -> None:
    class Broken:
        spec = CheckSpec("broken", "python", interval_s=10, timeout_s=1)

        def run(self, previous: Status | None) -> Verdict:
            raise ConnectionResetError("peer went away")

    collected = Collected()
    scheduler = Scheduler([Broken()], collected, clock=Clock())
    scheduler.tick()
    result = collected.wait(1)[0]
    assert (result.status, result.message) == (
        Status.FAILING,
        "check raised ConnectionResetError: peer went away",
    )


def test_a_check_that_calls_sys_exit_is_failing_and_its_next_run_is_not_skipped() -> None:
    class Exits:
        spec = CheckSpec("exits", "python", interval_s=10, timeout_s=1)
        runs = 0

        def run(self, previous: Status | None) -> Verdict:
            self.runs += 1
            if self.runs == 1:
                raise SystemExit("config missing")
            return Verdict(Status.HEALTHY, "back")

    clock, collected = Clock(), Collected()
    scheduler = Scheduler([Exits()], collected, clock=clock)
    scheduler.tick()
    first = collected.wait(1)[0]
    assert (first.status, first.message) == (Status.FAILING, "check raised SystemExit: config missing")
    clock.now += 10
    scheduler.tick()
    assert [r.message for r in collected.wait(2)] == ["check raised SystemExit: config missing", "back"]
    assert scheduler.skipped() == {"exits": 0}


def test_a_failing_result_handler_does_not_stop_the_scheduler() -> None:
    calls = []

    def handler(result: CheckResult) -> None:
        calls.append(result)
        raise RuntimeError("sink broke")

    class Quick:
        spec = CheckSpec("q", "python", interval_s=0.05, timeout_s=0.05)

        def run(self, previous: Status | None) -> Verdict:
            return Verdict(Status.HEALTHY, "ok")

    scheduler = Scheduler([Quick()], handler)
    scheduler.start()
    try:
        deadline = threading.Event()
        for _ in range(100):
            if len(calls) >= 3:
                break
            deadline.wait(0.05)
        assert len(calls) >= 3
        assert scheduler.alive()
    finally:
        scheduler.stop()
    assert not scheduler.alive()


def test_an_exception_whose_str_raises_is_failing_and_the_next_run_is_not_skipped() -> None:
    class Unprintable(Exception):
        def __str__(self) -> str:
            raise RuntimeError("no text for you")

    class Raises:
        spec = CheckSpec("odd", "python", interval_s=10, timeout_s=1)
        runs = 0

        def run(self, previous: Status | None) -> Verdict:
            self.runs += 1
            if self.runs == 1:
                raise Unprintable()
            return Verdict(Status.HEALTHY, "back")

    clock, collected = Clock(), Collected()
    scheduler = Scheduler([Raises()], collected, clock=clock)
    scheduler.tick()
    first = collected.wait(1)[0]
    assert first.status is Status.FAILING and first.message.startswith("check raised Unprintable")
    clock.now += 10
    scheduler.tick()
    assert [r.message for r in collected.wait(2)][1] == "back"
    assert scheduler.skipped() == {"odd": 0}


def test_a_huge_message_is_cut_before_it_becomes_an_attribute_a_log_body_and_readyz() -> None:
    class Chatty:
        spec = CheckSpec("chatty", "python", interval_s=10, timeout_s=1)

        def run(self, previous: Status | None) -> Verdict:
            return Verdict(Status.DEGRADED, "x" * 5_000_000)

    collected = Collected()
    Scheduler([Chatty()], collected, clock=Clock()).tick()
    message = collected.wait(1)[0].message
    assert message.startswith("x" * 1000) and message.endswith("… (4999000 more characters cut)")
    assert len(message) < 1100
