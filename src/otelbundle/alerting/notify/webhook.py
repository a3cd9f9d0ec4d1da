"""A generic webhook receiving the Alertmanager webhook (version 4) body, so existing receivers work.

Evidence travels as annotations (``exception``, ``span``, ``trace_url``, ``logs``), where
Alertmanager's own webhook would carry it after our Alertmanager notifier: one shape for both."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from otelbundle.alerting.alert import Alert
from otelbundle.alerting.notify.base import post_json, rfc3339


def _common(maps: list[Mapping[str, str]]) -> dict[str, str]:
    if not maps:
        return {}
    first = dict(maps[0])
    return {k: v for k, v in first.items() if all(m.get(k) == v for m in maps[1:])}


def webhook_payload(alerts: Sequence[Alert], receiver: str = "otelbundle") -> dict[str, Any]:
    annotations = [alert.annotations_with_evidence for alert in alerts]
    common_labels = _common([a.labels for a in alerts])
    names = sorted({a.name for a in alerts})
    return {
        "version": "4",
        "groupKey": '{}:{alertname=~"' + "|".join(names) + '"}',
        "truncatedAlerts": 0,
        "status": "firing" if any(a.status == "firing" for a in alerts) else "resolved",
        "receiver": receiver,
        "groupLabels": {"alertname": names[0]} if len(names) == 1 else {},
        "commonLabels": common_labels,
        "commonAnnotations": _common(list(annotations)),
        "externalURL": "",
        "alerts": [
            {
                "status": alert.status,
                "labels": dict(alert.labels),
                "annotations": annotations[index],
                "startsAt": rfc3339(alert.starts_at),
                "endsAt": rfc3339(alert.ends_at),
                "generatorURL": alert.generator_url,
                "fingerprint": alert.fingerprint,
            }
            for index, alert in enumerate(alerts)
        ],
    }


class WebhookNotifier:
    """``receiver`` is the body's ``receiver``: the channel's name when it has one."""

    def __init__(
        self,
        url: str,
        headers: Mapping[str, str] | None = None,
        timeout: float = 5.0,
        receiver: str = "otelbundle",
    ) -> None:
        self.name = "webhook"
        self.url = url
        self.headers = dict(headers or {})
        self.timeout = timeout
        self.receiver = receiver

    def send(self, alerts: Sequence[Alert]) -> None:
        post_json(
            self.url, webhook_payload(alerts, self.receiver), headers=self.headers, timeout=self.timeout
        )
