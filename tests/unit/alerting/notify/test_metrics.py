"""The dispatcher's counters reach an OTel MeterProvider."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timezone

from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader

from otelbundle.alerting.alert import Alert
from otelbundle.alerting.notify import NotificationDispatcher, PermanentError
from otelbundle.alerting.telemetry import register_notification_metrics


class Refuses:
    name = "refuses"

    def send(self, alerts: Sequence[Alert]) -> None:
        raise PermanentError("HTTP 400: no")


class Accepts:
    name = "accepts"

    def send(self, alerts: Sequence[Alert]) -> None:
        return None


def test_counters_exported_per_notifier() -> None:
    reader = InMemoryMetricReader()
    provider = MeterProvider(metric_readers=[reader])
    dispatcher = NotificationDispatcher([Refuses(), Accepts()])
    register_notification_metrics(dispatcher, provider.get_meter("test"))
    t = datetime(2026, 1, 1, tzinfo=timezone.utc)
    for number in range(3):  # three alerts: one re-sent would be held back by repeat_interval
        dispatcher.submit([Alert({"alertname": f"A{number}"}, {}, "firing", t, t)])
    assert dispatcher.flush(5)
    data = reader.get_metrics_data()
    assert data is not None
    values = {
        (m.name, dict(p.attributes or {})["notifier"]): p.value
        for rm in data.resource_metrics
        for sm in rm.scope_metrics
        for m in sm.metrics
        for p in m.data.data_points  # type: ignore[union-attr]
    }
    assert values[("otelbundle.alerting.notifications.sent", "accepts")] == 3
    assert values[("otelbundle.alerting.notifications.failed", "refuses")] == 3
    assert values[("otelbundle.alerting.notifications.sent", "refuses")] == 0
    assert values[("otelbundle.alerting.notifications.dropped", "accepts")] == 0
    assert values[("otelbundle.alerting.notifications.alerts.sent", "accepts")] == 3
    assert values[("otelbundle.alerting.notifications.alerts.failed", "refuses")] == 3
    dispatcher.shutdown()
    provider.shutdown()


class RefusesOne:
    """A channel whose receiver took all but the first alert of a batch (one chunk refused)."""

    name = "refuses-one"

    def send(self, alerts: Sequence[Alert]) -> None:
        raise PermanentError("HTTP 400: no", refused=alerts[:1])


def test_a_partly_delivered_batch_counts_its_alerts_apart() -> None:
    reader = InMemoryMetricReader()
    provider = MeterProvider(metric_readers=[reader])
    dispatcher = NotificationDispatcher([RefusesOne()])
    register_notification_metrics(dispatcher, provider.get_meter("test"))
    t = datetime(2026, 1, 1, tzinfo=timezone.utc)
    dispatcher.submit([Alert({"alertname": f"A{number}"}, {}, "firing", t, t) for number in range(3)])
    assert dispatcher.flush(5)
    data = reader.get_metrics_data()
    assert data is not None
    values = {
        (m.name, m.unit): p.value
        for rm in data.resource_metrics
        for sm in rm.scope_metrics
        for m in sm.metrics
        for p in m.data.data_points  # type: ignore[union-attr]
    }
    assert values[("otelbundle.alerting.notifications.failed", "{batch}")] == 1  # the batch, once
    assert values[("otelbundle.alerting.notifications.alerts.sent", "{alert}")] == 2
    assert values[("otelbundle.alerting.notifications.alerts.failed", "{alert}")] == 1
    dispatcher.shutdown()
    provider.shutdown()
