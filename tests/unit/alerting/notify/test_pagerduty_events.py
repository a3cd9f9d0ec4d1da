"""PagerDuty sends each event on its own: a refused event does not cost the ones after it, and a
retry re-sends only the events not yet accepted (scripted server on loopback)."""

from __future__ import annotations

import logging
from datetime import datetime, timezone

import pytest

from otelbundle.alerting.alert import Alert
from otelbundle.alerting.notify import NotificationDispatcher
from otelbundle.alerting.notify.pagerduty import PagerDutyNotifier

from .conftest import Scripted

T = datetime(2026, 1, 1, tzinfo=timezone.utc)
BATCH = [Alert({"alertname": name}, {}, "firing", T, T) for name in ("A", "B", "C")]


def run(
    scripted: Scripted, caplog: pytest.LogCaptureFixture
) -> tuple[list[str], tuple[int, int, int], list[str]]:
    """What reached PagerDuty (by summary), the channel's (sent, failed, retried), the log lines."""
    dispatcher = NotificationDispatcher(
        [PagerDutyNotifier("KEY", url=scripted.url + "/v2/enqueue")], base_delay=0.001
    )
    with caplog.at_level(logging.WARNING, logger="otelbundle.alerting"):
        dispatcher.submit(BATCH)
        assert dispatcher.flush(5)
    dispatcher.shutdown()
    stats = dispatcher.stats()["pagerduty"]
    posted = [seen.body["payload"]["summary"] for seen in scripted.seen]
    return (
        posted,
        (stats.sent, stats.failed, stats.retried),
        [r.getMessage() for r in caplog.records if r.name == "otelbundle.alerting"],
    )


def test_a_refused_event_does_not_lose_the_ones_after_it(
    scripted: Scripted, caplog: pytest.LogCaptureFixture
) -> None:
    scripted.answers = [(200, {}), (400, {}), (200, {})]
    posted, stats, lines = run(scripted, caplog)
    assert posted == ["A", "B", "C"]
    assert stats == (0, 1, 0)  # the batch lost an event: failed, and not retried (4xx)
    assert lines == [
        "otelbundle: pagerduty: giving up on a notification: HTTP 400 (1 of 3 events refused, the other 2 accepted)"
    ]


def test_a_retry_sends_only_the_events_not_yet_accepted(
    scripted: Scripted, caplog: pytest.LogCaptureFixture
) -> None:
    scripted.answers = [(200, {}), (503, {}), (200, {}), (200, {})]
    posted, stats, lines = run(scripted, caplog)
    assert posted == ["A", "B", "B", "C"]  # A is not triggered twice
    assert stats == (1, 0, 1) and lines == []


def test_refused_and_retried_events_in_one_batch(
    scripted: Scripted, caplog: pytest.LogCaptureFixture
) -> None:
    scripted.answers = [(400, {}), (503, {}), (200, {}), (200, {})]
    posted, stats, lines = run(scripted, caplog)
    assert posted == ["A", "B", "B", "C"]
    assert stats == (0, 1, 1)  # delivered B and C after one retry; A is lost, so the batch failed
    assert lines == ["otelbundle: pagerduty: giving up on a notification: HTTP 400 (1 of 3 events refused)"]


def test_retries_run_out_on_the_events_still_pending(
    scripted: Scripted, caplog: pytest.LogCaptureFixture
) -> None:
    scripted.answers = [(200, {})] + [(503, {})] * 6
    posted, stats, lines = run(scripted, caplog)
    assert posted == ["A"] + ["B"] * 6
    assert stats == (0, 1, 5)
    assert lines == [
        "otelbundle: pagerduty: notification failed after 6 attempts: HTTP 503 (2 of 2 events not yet accepted)"
    ]
