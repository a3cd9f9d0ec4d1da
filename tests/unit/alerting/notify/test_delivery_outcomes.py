"""What a batch's outcome says and counts: the refused PagerDuty events alone are handed back, a
batch still being sent at exit is in the exit summary, and each failure is said once, truly."""

from __future__ import annotations

import logging
import socket
import threading
from collections.abc import Sequence
from datetime import datetime, timezone

import pytest

from otelbundle.alerting.alert import Alert
from otelbundle.alerting.notify import AlertmanagerNotifier, NotificationDispatcher, RetryableError
from otelbundle.alerting.notify.pagerduty import PagerDutyNotifier
from otelbundle.alerting.notify.routing import Channel

from .conftest import Scripted

T = datetime(2026, 1, 1, tzinfo=timezone.utc)


def alerts(*names: str) -> list[Alert]:
    return [Alert({"alertname": name}, {}, "firing", T, T) for name in names]


def summaries(capsys: pytest.CaptureFixture[str]) -> list[str]:
    return [line for line in capsys.readouterr().err.splitlines() if "not delivered" in line]


def test_a_refused_pagerduty_event_alone_is_handed_back_and_re_sent(scripted: Scripted) -> None:
    """Before: the whole batch counted failed (alerts_failed=4) and was handed back, so the
    engine's next re-send triggered the 3 accepted events again."""
    scripted.answers = [(202, {}), (400, {}), (202, {}), (202, {})]
    channel = Channel("pd", "pagerduty", PagerDutyNotifier("KEY", url=scripted.url + "/v2/enqueue"))
    dispatcher = NotificationDispatcher([channel], base_delay=0.001)
    batch = alerts("A0", "A1", "A2", "A3")
    dispatcher.submit(batch)
    assert dispatcher.flush(5)
    stats = dispatcher.stats()["pd"]
    assert (stats.sent, stats.failed, stats.alerts_sent, stats.alerts_failed) == (0, 1, 3, 1)
    dispatcher.submit(batch)  # the engine's re-send, within repeat_interval
    assert dispatcher.flush(5)
    dispatcher.shutdown()
    assert [seen.body["payload"]["summary"] for seen in scripted.seen] == ["A0", "A1", "A2", "A3", "A1"]


def test_a_refusal_before_a_retry_keeps_the_accepted_count(
    scripted: Scripted, caplog: pytest.LogCaptureFixture
) -> None:
    scripted.answers = [(202, {}), (400, {}), (429, {"Retry-After": "0"})]
    dispatcher = NotificationDispatcher(
        [Channel("pd", "pagerduty", PagerDutyNotifier("KEY", url=scripted.url))], base_delay=0.001
    )
    with caplog.at_level(logging.WARNING, logger="otelbundle.alerting"):
        dispatcher.submit(alerts("A0", "A1", "A2", "A3"))
        assert dispatcher.flush(5)
    dispatcher.shutdown()
    stats = dispatcher.stats()["pd"]
    assert (stats.alerts_sent, stats.alerts_failed, stats.retried) == (3, 1, 1)
    assert [r.getMessage() for r in caplog.records if r.name == "otelbundle.alerting"] == [
        "otelbundle: pd: giving up on a notification: HTTP 400 (1 of 4 events refused, 1 accepted so far)"
    ]


class Hanging:
    """A receiver that does not answer: ``send`` waits until the test releases it."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.entered = threading.Event()
        self.release = threading.Event()

    def send(self, batch: Sequence[Alert]) -> None:
        self.entered.set()
        self.release.wait(30)
        raise RetryableError("TimeoutError: timed out")


def test_batches_still_being_sent_at_exit_are_in_the_summary(capsys: pytest.CaptureFixture[str]) -> None:
    """Before: no summary at all (2 alerts lost silently), or, three hanging webhooks at SIGTERM,
    one of them said as "1 batch failed" (its failure counted half-way when the summary was read)."""
    hanging = [Hanging(name) for name in ("slow1", "slow2", "slow3")]
    dispatcher = NotificationDispatcher(hanging)
    dispatcher.submit(alerts("A", "B"))
    for channel in hanging:
        assert channel.entered.wait(5)
    try:
        dispatcher.shutdown(0.2)
    finally:
        for channel in hanging:
            channel.release.set()
    assert summaries(capsys) == [
        "WARNING otelbundle: alert notifications not delivered: slow1: 2 alerts still being sent at exit; "
        "slow2: 2 alerts still being sent at exit; slow3: 2 alerts still being sent at exit."
    ]


def test_shutdown_keeps_within_its_timeout(monkeypatch: pytest.MonkeyPatch) -> None:
    """Before: flush(timeout), then each thread joined for timeout / channels more: shutdown(1.0)
    of a channel busy sending took 2.0 s. What it waits for, in all, is now within the timeout."""
    channel = Hanging("slow")
    dispatcher = NotificationDispatcher([channel])
    dispatcher.submit(alerts("A"))
    assert channel.entered.wait(5)
    waits: list[float] = []
    flush = dispatcher.flush
    monkeypatch.setattr(dispatcher, "flush", lambda timeout: (waits.append(timeout), flush(timeout))[1])
    thread = dispatcher._workers[0].thread
    monkeypatch.setattr(thread, "join", lambda timeout: waits.append(timeout))
    try:
        dispatcher.shutdown(1.0)
    finally:
        channel.release.set()
    assert len(waits) == 2 and sum(waits) <= 1.0


def _refused_port() -> int:
    with socket.socket() as probe:  # bound, never listening
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def test_while_running_a_refused_connection_is_not_said_to_be_at_exit(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Before: "(nothing listens there: not retried at exit)" while the app ran, and "1 attempts"."""
    dispatcher = NotificationDispatcher(
        [AlertmanagerNotifier(f"http://127.0.0.1:{_refused_port()}")], max_retries=0
    )
    with caplog.at_level(logging.WARNING, logger="otelbundle.alerting"):
        dispatcher.submit(alerts("A"))
        assert dispatcher.flush(5)
    dispatcher.shutdown(1.0)
    # This channel's lines only: an earlier test's hanging channel may still be saying its own.
    [line] = [
        r.getMessage()
        for r in caplog.records
        if r.name == "otelbundle.alerting" and r.getMessage().startswith("otelbundle: alertmanager:")
    ]
    assert line.startswith("otelbundle: alertmanager: notification failed after 1 attempt: URLError:")
    assert "at exit" not in line


def test_one_failure_is_said_once_whatever_the_number_of_attempts(caplog: pytest.LogCaptureFixture) -> None:
    """Before: "after 6 attempts", "after 4 attempts", "after 1 attempts" of one failure: three lines."""
    dispatcher = NotificationDispatcher([Hanging("hook")])
    worker = dispatcher._workers[0]
    with caplog.at_level(logging.WARNING, logger="otelbundle.alerting"):
        for count in ("6 attempts", "4 attempts", "1 attempt"):
            worker._log_once(f"hook: notification failed after {count}: HTTP 503: busy")
    dispatcher.shutdown(0.1)
    assert [r.getMessage() for r in caplog.records if r.name == "otelbundle.alerting"] == [
        "otelbundle: hook: notification failed after 6 attempts: HTTP 503: busy"
    ]
