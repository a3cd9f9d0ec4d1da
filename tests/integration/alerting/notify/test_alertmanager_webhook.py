"""Notifiers against local HTTP servers that check payloads and answer 500, 429 and 400."""

from __future__ import annotations

import logging
import socket
from datetime import datetime, timezone

import pytest

from harness.http_sink import Sink
from otelbundle.alerting.alert import Alert
from otelbundle.alerting.notify import AlertmanagerNotifier, NotificationDispatcher, WebhookNotifier

ALERT = Alert(
    labels={"alertname": "CheckoutErrors", "severity": "critical", "env": "prod"},
    annotations={"summary": "12% of checkouts fail", "trace_ids": "ab12"},
    status="firing",
    starts_at=datetime(2026, 1, 2, 3, 4, 5, tzinfo=timezone.utc),
    ends_at=datetime(2026, 1, 2, 3, 8, 5, tzinfo=timezone.utc),
    generator_url="http://jaeger/trace/ab12",
)


def test_alertmanager_v2_payload(sink: Sink) -> None:
    dispatcher = NotificationDispatcher([AlertmanagerNotifier(sink.url)])
    dispatcher.submit([ALERT])
    assert dispatcher.flush(5)
    path, headers, body = sink.requests[0]
    assert path == "/api/v2/alerts" and headers["Content-Type"] == "application/json"
    assert body == [
        {
            "labels": {"alertname": "CheckoutErrors", "severity": "critical", "env": "prod"},
            "annotations": {"summary": "12% of checkouts fail", "trace_ids": "ab12"},
            "startsAt": "2026-01-02T03:04:05.000Z",
            "endsAt": "2026-01-02T03:08:05.000Z",
            "generatorURL": "http://jaeger/trace/ab12",
        }
    ]


def test_webhook_v4_body_and_headers(sink: Sink) -> None:
    dispatcher = NotificationDispatcher([WebhookNotifier(f"{sink.url}/hook", {"X-Token": "t0k"})])
    dispatcher.submit([ALERT])
    assert dispatcher.flush(5)
    path, headers, body = sink.requests[0]
    assert path == "/hook" and headers["X-Token"] == "t0k"
    assert body["version"] == "4" and body["status"] == "firing"
    assert body["commonLabels"] == dict(ALERT.labels)
    assert body["alerts"][0]["fingerprint"] == ALERT.fingerprint
    assert body["alerts"][0]["startsAt"] == "2026-01-02T03:04:05.000Z"


def test_5xx_and_429_are_retried_until_delivered(sink: Sink) -> None:
    sink.statuses = [500, 503, 429]
    dispatcher = NotificationDispatcher([AlertmanagerNotifier(sink.url)], base_delay=0.01)
    dispatcher.submit([ALERT])
    assert dispatcher.flush(5)
    stats = dispatcher.stats()["alertmanager"]
    assert len(sink.requests) == 4 and stats.sent == 1 and stats.retried == 3


def test_400_gives_up_at_once_and_logs_once(sink: Sink, caplog: pytest.LogCaptureFixture) -> None:
    sink.statuses = [400, 400]
    dispatcher = NotificationDispatcher([AlertmanagerNotifier(sink.url)], base_delay=0.01)
    with caplog.at_level(logging.WARNING, logger="otelbundle.alerting"):
        dispatcher.submit([ALERT])
        dispatcher.submit([ALERT])
        assert dispatcher.flush(5)
    assert len(sink.requests) == 2 and dispatcher.stats()["alertmanager"].failed == 2
    assert (
        len([r for r in caplog.records if r.name == "otelbundle.alerting" and "giving up" in r.getMessage()])
        == 1
    )


def test_a_dead_notifier_never_blocks_submit_or_the_others(sink: Sink) -> None:
    with socket.socket() as hole:  # accepts at the kernel, never answers
        hole.bind(("127.0.0.1", 0))
        hole.listen(16)
        dead = AlertmanagerNotifier(f"http://127.0.0.1:{hole.getsockname()[1]}", timeout=2.0)
        dispatcher = NotificationDispatcher([dead, WebhookNotifier(sink.url)], queue_size=2, base_delay=0.01)
        for _ in range(50):
            dispatcher.submit([ALERT])
        # All 50 submits returned while the dead channel is still inside its first
        # send (its 2 s timeout has not passed, nothing counted yet): submit never waits.
        stats = dispatcher.stats()
        assert stats["alertmanager"].sent == 0 and stats["alertmanager"].failed == 0
        assert stats["alertmanager"].dropped >= 45  # bounded queue: oldest dropped and counted
        assert sink.received.wait(5), "the healthy notifier was held up by the dead one"
