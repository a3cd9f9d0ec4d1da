"""Retries against a scripted server: Retry-After is a floor, a new batch never cuts a wait short,
a Retry-After longer than a retry may wait is given up on, shutdown still ends a wait at once."""

from __future__ import annotations

import logging
import re
import time
from datetime import datetime, timedelta, timezone
from email.utils import format_datetime

import pytest

from otelbundle.alerting.alert import Alert
from otelbundle.alerting.notify import NotificationDispatcher, WebhookNotifier
from otelbundle.alerting.notify.dispatcher import MAX_DELAY, backoff_delay

from .conftest import Scripted

T = datetime(2026, 1, 1, tzinfo=timezone.utc)


def alert(name: str) -> Alert:
    return Alert({"alertname": name}, {}, "firing", T, T)


def names(server: Scripted) -> list[str]:
    return [seen.body["alerts"][0]["labels"]["alertname"] for seen in server.seen]


def wait_for_requests(server: Scripted, count: int) -> None:
    deadline = time.monotonic() + 5
    while len(server.seen) < count and time.monotonic() < deadline:
        time.sleep(0.005)
    assert len(server.seen) >= count


def test_retry_after_is_a_floor_and_is_not_capped() -> None:
    assert backoff_delay(0, 0.5, 10.0, jitter=0.8) == 10.0  # jitter never brings a retry sooner
    assert backoff_delay(0, 0.5, 10.0, jitter=1.2) == pytest.approx(12.0)
    assert backoff_delay(0, 0.5, 55.0, jitter=1.2) == MAX_DELAY  # later, but not past the cap...
    assert backoff_delay(0, 0.5, 300.0, jitter=1.0) == 300.0  # ...and never below what was asked
    for _ in range(200):
        assert 10.0 <= backoff_delay(0, 0.5, 10.0) <= 12.0
        assert 0.8 <= backoff_delay(1, 0.5, None) <= 1.2  # computed delays keep ±20 %


def test_retry_after_reads_seconds_and_http_dates() -> None:
    from otelbundle.alerting.notify.base import retry_after_seconds

    now = T.timestamp()
    assert retry_after_seconds("7", now) == 7.0
    assert retry_after_seconds(format_datetime(T + timedelta(seconds=30), usegmt=True), now) == 30.0
    assert retry_after_seconds("Thu, 01 Jan 2026 00:00:30 GMT", now) == 30.0
    assert retry_after_seconds("Wed, 31 Dec 2025 23:59:00 GMT", now) == 0.0  # in the past: now
    for unreadable in (None, "", "soon", "inf", "nan"):
        assert retry_after_seconds(unreadable, now) is None


def test_retry_waits_at_least_retry_after(scripted: Scripted) -> None:
    scripted.answers = [(429, {"Retry-After": "0.3"})]
    dispatcher = NotificationDispatcher([WebhookNotifier(scripted.url)])
    dispatcher.submit([alert("A")])
    assert dispatcher.flush(5)
    first, retry = scripted.seen
    assert retry.at - first.at >= 0.3
    assert dispatcher.stats()["webhook"].sent == 1
    dispatcher.shutdown()


@pytest.mark.parametrize("header", ["120", "http-date"])
def test_retry_after_longer_than_a_retry_may_wait_gives_up_at_once(
    scripted: Scripted, header: str, caplog: pytest.LogCaptureFixture, capsys: pytest.CaptureFixture[str]
) -> None:
    """Given up at once, and the channel is left alone for the time it asked: the next
    notification (a re-send, another alert) waits instead of getting a 429 at every re-send."""
    value = format_datetime(datetime.now(timezone.utc) + timedelta(seconds=125), usegmt=True)
    scripted.answers = [(429, {"Retry-After": value if header == "http-date" else header})] * 2
    dispatcher = NotificationDispatcher([WebhookNotifier(scripted.url)])
    with caplog.at_level(logging.WARNING, logger="otelbundle.alerting"):
        dispatcher.submit([alert("A")])
        dispatcher.submit([alert("B")])
        assert not dispatcher.flush(1)  # B waits out the Retry-After
        stats = dispatcher.stats()["webhook"]
        assert (stats.sent, stats.failed, stats.retried, len(scripted.seen)) == (0, 1, 0, 1)
        dispatcher.shutdown(0.5)  # ends the wait; B is not sent into it
    assert len(scripted.seen) == 1
    lines = [r.getMessage() for r in caplog.records if r.name == "otelbundle.alerting"]
    assert len(lines) == 1, lines  # once per channel and status, whatever the number of seconds
    assert lines[0].startswith("otelbundle: webhook: giving up on a notification: HTTP 429")
    assert re.search(
        r"\(Retry-After asks to wait 12\d s, longer than the 60 s a retry may wait; "
        r"the next notifications wait for it\)$",
        lines[0],
    )
    summary = [line for line in capsys.readouterr().err.splitlines() if "not delivered" in line]
    assert summary == [
        "WARNING otelbundle: alert notifications not delivered: webhook: 1 alert failed, 1 alert still queued at exit."
    ]
    dispatcher.shutdown()


@pytest.mark.parametrize(
    ("answer", "floor"),
    [((429, {"Retry-After": "0.4"}), 0.4), ((503, {}), 0.8 * 0.5)],  # Retry-After; computed backoff
)
def test_a_new_batch_does_not_cut_a_retry_wait_short(
    scripted: Scripted, answer: tuple[int, dict[str, str]], floor: float
) -> None:
    scripted.answers = [answer]
    dispatcher = NotificationDispatcher([WebhookNotifier(scripted.url)], base_delay=0.5)
    dispatcher.submit([alert("A")])
    wait_for_requests(scripted, 1)
    time.sleep(0.05)
    dispatcher.submit([alert("B")])  # wakes the worker's condition while it waits to retry A
    assert dispatcher.flush(5)
    assert names(scripted) == ["A", "A", "B"]
    first, retry, _ = scripted.seen
    assert retry.at - first.at >= floor
    dispatcher.shutdown()


def test_shutdown_still_ends_a_retry_wait_at_once_and_tries_once_more(scripted: Scripted) -> None:
    scripted.answers = [(429, {"Retry-After": "30"})]
    dispatcher = NotificationDispatcher([WebhookNotifier(scripted.url)])
    dispatcher.submit([alert("A")])
    dispatcher.submit([alert("B")])
    wait_for_requests(scripted, 1)  # A was refused: the worker now waits 30 s to retry it
    start = time.monotonic()
    dispatcher.shutdown(timeout=0.3)
    assert time.monotonic() - start < 2
    assert names(scripted) == ["A", "A", "B"]  # the last attempt of A, then what was queued
    assert dispatcher.stats()["webhook"].sent == 2
