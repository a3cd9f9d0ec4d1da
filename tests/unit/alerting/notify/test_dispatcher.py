"""Dispatcher: drop-oldest counting, retry/backoff behaviour, one log line per distinct failure."""

from __future__ import annotations

import logging
import threading
from collections.abc import Sequence
from datetime import datetime, timezone

import pytest

from otelbundle.alerting.alert import Alert
from otelbundle.alerting.notify import NotificationDispatcher, PermanentError, RetryableError

T = datetime(2026, 1, 1, tzinfo=timezone.utc)


def alert(n: int) -> Alert:
    return Alert({"alertname": f"A{n}"}, {}, "firing", T, T)


class Gate:
    """A notifier that blocks on its first send until released, recording what it delivered."""

    name = "gate"

    def __init__(self) -> None:
        self.release = threading.Event()
        self.started = threading.Event()
        self.delivered: list[str] = []

    def send(self, alerts: Sequence[Alert]) -> None:
        self.started.set()
        self.release.wait(10)
        self.delivered.extend(a.name for a in alerts)


def test_full_queue_drops_oldest_and_counts() -> None:
    gate = Gate()
    dispatcher = NotificationDispatcher([gate], queue_size=3)
    dispatcher.submit([alert(0)])
    assert gate.started.wait(5)  # A0 is in flight, the queue is empty
    for n in range(1, 7):
        dispatcher.submit([alert(n)])
    assert dispatcher.stats()["gate"].dropped == 3  # A1..A3 dropped, A4..A6 kept
    gate.release.set()
    assert dispatcher.flush(5)
    assert gate.delivered == ["A0", "A4", "A5", "A6"]
    assert dispatcher.stats()["gate"].sent == 4
    dispatcher.shutdown()


class Flaky:
    name = "flaky"

    def __init__(self, errors: list[Exception]) -> None:
        self.errors = errors
        self.calls = 0

    def send(self, alerts: Sequence[Alert]) -> None:
        self.calls += 1
        if self.errors:
            raise self.errors.pop(0)


def test_retryable_errors_are_retried_then_give_up() -> None:
    flaky = Flaky([RetryableError("HTTP 503: x", retry_after=0.0)] * 10)
    dispatcher = NotificationDispatcher([flaky], max_retries=3, base_delay=0.001)
    dispatcher.submit([alert(1)])
    assert dispatcher.flush(5)
    stats = dispatcher.stats()["flaky"]
    assert (flaky.calls, stats.retried, stats.failed, stats.sent) == (4, 3, 1, 0)
    dispatcher.shutdown()


def test_permanent_error_is_not_retried_and_logged_once_per_status(caplog: pytest.LogCaptureFixture) -> None:
    errors: list[Exception] = [PermanentError(f"HTTP 400: body {i}") for i in range(3)]
    errors.append(PermanentError("HTTP 404: gone"))
    flaky = Flaky(errors)
    dispatcher = NotificationDispatcher([flaky], base_delay=0.001)
    with caplog.at_level(logging.WARNING, logger="otelbundle.alerting"):
        for n in range(4):
            dispatcher.submit([alert(n)])
        assert dispatcher.flush(5)
    assert flaky.calls == 4 and dispatcher.stats()["flaky"].failed == 4
    lines = [
        r.getMessage()
        for r in caplog.records
        if r.name == "otelbundle.alerting" and "flaky" in r.getMessage()
    ]
    assert len(lines) == 2 and "HTTP 400" in lines[0] and "HTTP 404" in lines[1]
    dispatcher.shutdown()


def test_submit_never_raises_and_ignores_empty() -> None:
    flaky = Flaky([ValueError("bug in a notifier")])
    dispatcher = NotificationDispatcher([flaky])
    dispatcher.submit([])
    dispatcher.submit([alert(1)])
    dispatcher.submit([alert(2)])
    assert dispatcher.flush(5)
    stats = dispatcher.stats()["flaky"]
    assert (flaky.calls, stats.failed, stats.sent) == (2, 1, 1)  # the worker survived the bug
    dispatcher.shutdown()


def test_backoff_schedule() -> None:
    from otelbundle.alerting.notify.dispatcher import backoff_delay

    assert [backoff_delay(a, 0.5, None, jitter=1.0) for a in range(9)] == [
        0.5,
        1.0,
        2.0,
        4.0,
        8.0,
        16.0,
        32.0,
        60.0,
        60.0,
    ]
    assert backoff_delay(0, 0.5, 7.0, jitter=1.0) == 7.0  # Retry-After wins
    assert backoff_delay(5, 0.5, 0.0, jitter=1.0) == 0.0
    for _ in range(200):
        assert 0.8 <= backoff_delay(1, 0.5, None) <= 1.2
