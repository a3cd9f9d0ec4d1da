"""Prometheus Alertmanager v2: ``POST {url}/api/v2/alerts``."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from otelbundle.alerting.alert import Alert
from otelbundle.alerting.notify.base import post_json, rfc3339


def alertmanager_payload(alerts: Sequence[Alert]) -> list[dict[str, Any]]:
    return [
        {
            "labels": dict(alert.labels),
            "annotations": dict(alert.annotations),
            "startsAt": rfc3339(alert.starts_at),
            "endsAt": rfc3339(alert.ends_at),
            "generatorURL": alert.generator_url,
        }
        for alert in alerts
    ]


class AlertmanagerNotifier:
    def __init__(self, url: str, timeout: float = 5.0) -> None:
        self.name = "alertmanager"
        self.url = url.rstrip("/") + "/api/v2/alerts"
        self.timeout = timeout

    def send(self, alerts: Sequence[Alert]) -> None:
        post_json(self.url, alertmanager_payload(alerts), timeout=self.timeout)
