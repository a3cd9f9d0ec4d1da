"""The dispatcher counts the alerts of a batch, not only the batch: a dispatch cut into chunks of
which one was refused is one ``failed`` batch, but most of its alerts were delivered."""

from __future__ import annotations

import threading
from collections.abc import Sequence
from datetime import datetime, timezone

from otelbundle.alerting.alert import Alert
from otelbundle.alerting.notify import AlertmanagerNotifier, NotificationDispatcher

from .conftest import Scripted

T = datetime(2026, 1, 1, tzinfo=timezone.utc)


def alerts(count: int, name: str = "Many") -> list[Alert]:
    return [
        Alert({"alertname": name, "key": f"k{n:04}"}, {"summary": "ok"}, "firing", T, T) for n in range(count)
    ]


def test_alerts_are_counted_besides_batches(scripted: Scripted) -> None:
    """600 alerts, the second chunk of 256 refused (400): one failed batch, 344 alerts sent, 256 failed."""
    scripted.answers = [(200, {}), (400, {}), (200, {})]
    dispatcher = NotificationDispatcher([AlertmanagerNotifier(scripted.url)])
    dispatcher.submit(alerts(600))
    assert dispatcher.flush(30)
    stats = dispatcher.stats()["alertmanager"]
    assert (stats.sent, stats.failed) == (0, 1)
    assert (stats.alerts_sent, stats.alerts_failed, stats.alerts_dropped) == (344, 256, 0)
    dispatcher.shutdown()


def test_retries_run_out_the_unaccepted_alerts_count_failed(scripted: Scripted) -> None:
    scripted.answers = [(200, {})] + [(503, {"Retry-After": "0"})] * 2
    dispatcher = NotificationDispatcher([AlertmanagerNotifier(scripted.url)], max_retries=1, base_delay=0.01)
    dispatcher.submit(alerts(600))
    assert dispatcher.flush(30)
    stats = dispatcher.stats()["alertmanager"]
    assert (stats.failed, stats.alerts_sent, stats.alerts_failed) == (1, 256, 344)
    dispatcher.shutdown()


class Held:
    """A notifier whose first send waits until released: later batches queue up behind it."""

    name = "held"

    def __init__(self) -> None:
        self.started = threading.Event()
        self.release = threading.Event()

    def send(self, alerts: Sequence[Alert]) -> None:
        self.started.set()
        assert self.release.wait(60)


def test_a_batch_dropped_from_a_full_queue_counts_its_alerts() -> None:
    held = Held()
    dispatcher = NotificationDispatcher([held], queue_size=1)
    dispatcher.submit(alerts(1, "Busy"))
    assert held.started.wait(30)  # the worker is inside send: the queue is empty again
    dispatcher.submit(alerts(5, "Oldest"))
    dispatcher.submit(alerts(3, "Newest"))  # the queue holds one batch: the 5 are dropped
    held.release.set()
    assert dispatcher.flush(30)
    stats = dispatcher.stats()["held"]
    assert (stats.dropped, stats.alerts_dropped) == (1, 5)
    assert (stats.sent, stats.alerts_sent, stats.alerts_failed) == (2, 4, 0)
    dispatcher.shutdown()
