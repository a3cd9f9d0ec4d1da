"""Prometheus Alertmanager v2: ``POST {url}/api/v2/alerts``; evidence goes in as annotations."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any

from otelbundle.alerting.alert import Alert
from otelbundle.alerting.notify.base import post_json, rfc3339

_INVALID = re.compile(r"[^a-zA-Z0-9_]")


def label_name(name: str) -> str:
    """Alertmanager (0.25, classic validation) rejects label names outside ``[a-zA-Z_][a-zA-Z0-9_]*`` with a 400,
    and OTel attribute names such as ``service.name`` are dotted: map them the way Prometheus does."""
    cleaned = _INVALID.sub("_", name)
    return "_" + cleaned if cleaned[:1].isdigit() else cleaned or "_"


def _labels(labels: Mapping[str, str]) -> dict[str, str]:
    return {label_name(k): v for k, v in labels.items()}


def alertmanager_payload(alerts: Sequence[Alert]) -> list[dict[str, Any]]:
    return [
        {
            "labels": _labels(alert.labels),
            "annotations": alert.annotations_with_evidence,
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
