"""At exit a channel where nothing listens is not retried; one that answers 503 still is."""

from __future__ import annotations

import logging
import socket
from datetime import datetime, timezone

import pytest

from otelbundle.alerting.alert import Alert
from otelbundle.alerting.notify import AlertmanagerNotifier, NotificationDispatcher, WebhookNotifier
from otelbundle.alerting.notify.email import EmailNotifier
from tests.unit.alerting.notify.conftest import Scripted

T0 = datetime(2026, 12, 7, 12, 0, tzinfo=timezone.utc)
ALERT = Alert({"alertname": "AnyError", "severity": "critical"}, {}, "firing", T0, T0)


def _refused_port() -> int:
    with socket.socket() as probe:  # bound, never listening: refused while the test holds nothing there
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.mark.parametrize("kind", ["alertmanager", "email"])
def test_a_refused_channel_is_given_up_at_the_exit_not_retried_until_the_deadline(
    kind: str, caplog: pytest.LogCaptureFixture
) -> None:
    """Before: the exit's flush waited out the retries (0.2 + 0.4 + 0.8 + 1.6 s here) for a channel
    that a refused connection said was not there."""
    port = _refused_port()
    channel = (
        AlertmanagerNotifier(f"http://127.0.0.1:{port}")
        if kind == "alertmanager"
        else EmailNotifier(f"127.0.0.1:{port}", "a@example.com", ["b@example.com"], starttls="never")
    )
    dispatcher = NotificationDispatcher([channel], max_retries=4, base_delay=0.2)
    with caplog.at_level(logging.WARNING, logger="otelbundle"):
        dispatcher.submit([ALERT])
        dispatcher.shutdown(timeout=30)
    stats = dispatcher.stats()[kind]
    assert (stats.sent, stats.failed) == (0, 1)
    assert stats.retried <= 1  # the attempt that met the exit's start may have paused once
    assert "(nothing listens there: not retried at exit)" in caplog.text


def test_a_channel_answering_503_at_the_exit_is_still_retried_and_delivered(scripted: Scripted) -> None:
    scripted.answers = [(503, {})]
    dispatcher = NotificationDispatcher(
        [WebhookNotifier(f"{scripted.url}/hook")], max_retries=4, base_delay=0.05
    )
    dispatcher.submit([ALERT])
    dispatcher.shutdown(timeout=30)
    stats = dispatcher.stats()["webhook"]
    assert (stats.sent, stats.failed, stats.retried) == (1, 0, 1)
    assert len(scripted.seen) == 2


def test_while_the_app_runs_a_refused_channel_is_retried() -> None:
    dispatcher = NotificationDispatcher(
        [AlertmanagerNotifier(f"http://127.0.0.1:{_refused_port()}")], max_retries=2, base_delay=0.01
    )
    dispatcher.submit([ALERT])
    assert dispatcher.flush(30)
    stats = dispatcher.stats()["alertmanager"]
    assert (stats.failed, stats.retried) == (1, 2)
    dispatcher.shutdown(timeout=5)
