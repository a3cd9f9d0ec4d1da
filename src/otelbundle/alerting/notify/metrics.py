"""Delivery counters as OTel metrics: ``otelbundle.alerting.notifications.{sent,failed,dropped,retried}``.

Renamed from ``otelbundle.notifications.*``: every alerting metric is under ``otelbundle.alerting``.

Observable counters read the dispatcher's own stats at collection time, so
delivery threads never touch the metrics SDK and nothing is counted twice.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

from opentelemetry.metrics import CallbackOptions, Meter, Observation

from otelbundle.alerting.notify.dispatcher import NotificationDispatcher


def register_notification_metrics(dispatcher: NotificationDispatcher, meter: Meter) -> None:
    """Expose the per-notifier stats of ``dispatcher`` on ``meter`` (attribute ``notifier``)."""

    def callback(field: str) -> Callable[[CallbackOptions], Iterable[Observation]]:
        def observe(options: CallbackOptions) -> Iterable[Observation]:
            return [
                Observation(getattr(stats, field), {"notifier": name})
                for name, stats in dispatcher.stats().items()
            ]

        return observe

    for field, what in (
        ("sent", "batches delivered"),
        ("failed", "batches given up (4xx or retries exhausted)"),
        ("dropped", "batches dropped because the notifier's queue was full (oldest first)"),
        ("retried", "delivery attempts retried after a 5xx, 429, timeout or connection error"),
    ):
        meter.create_observable_counter(
            f"otelbundle.alerting.notifications.{field}",
            callbacks=[callback(field)],
            unit="{batch}",
            description=what,
        )
