"""Prometheus Alertmanager v2: ``POST {url}/api/v2/alerts``; evidence goes in as annotations.

A dispatch goes in POSTs of at most 256 alerts, as Prometheus sends them, smaller after a 413
(chunks.py)."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any

from otelbundle.alerting.alert import Alert
from otelbundle.alerting.notify.base import PermanentError, json_bytes, post_bytes, rfc3339
from otelbundle.alerting.notify.chunks import PostLimit, send_in_parts, too_large

_INVALID = re.compile(r"[^a-zA-Z0-9_]")


def label_name(name: str) -> str:
    """Alertmanager (0.25, classic validation) rejects label names outside ``[a-zA-Z_][a-zA-Z0-9_]*`` with a 400,
    and OTel attribute names such as ``service.name`` are dotted: map them the way Prometheus does."""
    cleaned = _INVALID.sub("_", name)
    return "_" + cleaned if cleaned[:1].isdigit() else cleaned or "_"


def _labels(labels: Mapping[str, str]) -> dict[str, str]:
    return {label_name(k): v for k, v in labels.items()}


def _alert(alert: Alert) -> dict[str, Any]:
    return {
        "labels": _labels(alert.labels),
        "annotations": alert.annotations_with_evidence,
        "startsAt": rfc3339(alert.starts_at),
        "endsAt": rfc3339(alert.ends_at),
        "generatorURL": alert.generator_url,
    }


def alertmanager_payload(alerts: Sequence[Alert]) -> list[dict[str, Any]]:
    return [_alert(alert) for alert in alerts]


class AlertmanagerNotifier:
    def __init__(self, url: str, timeout: float = 5.0) -> None:
        self.name = "alertmanager"
        self.url = url.rstrip("/") + "/api/v2/alerts"
        self.timeout = timeout
        self.limit = PostLimit()  # lowered by a 413, for the rest of the process (chunks.py)

    def send(self, alerts: Sequence[Alert]) -> None:
        """Each alert is encoded once; a POST's body is its alerts' JSON joined into a list,
        the very bytes one ``json_bytes(alertmanager_payload(...))`` would give."""
        encoded = [json_bytes(_alert(alert)) for alert in alerts]

        def post(part: range) -> None:
            data = b"[" + b",".join(encoded[part.start : part.stop]) + b"]"
            try:
                post_bytes(self.url, data, timeout=self.timeout)
            except PermanentError as exc:
                raise too_large(exc, len(data), len(part)) from None

        send_in_parts(alerts, [len(e) for e in encoded], post, self.limit)
