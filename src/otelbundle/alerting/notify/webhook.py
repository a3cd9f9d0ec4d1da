"""A generic webhook receiving the Alertmanager webhook (version 4) body, so existing receivers work.

Evidence travels as annotations (``exception``, ``span``, ``trace_url``, ``logs``), where
Alertmanager's own webhook would carry it after our Alertmanager notifier: one shape for both.

A dispatch of more than 256 alerts (or of more than 512 KiB of them) goes as several complete
messages, each with its own ``status``, ``commonLabels`` and ``groupKey`` (chunks.py), not one
message with ``truncatedAlerts`` set as Alertmanager's ``max_alerts`` would: what is cut off
there is never delivered anywhere, and Alertmanager's default (``max_alerts: 0``) sends all."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from otelbundle.alerting.alert import Alert
from otelbundle.alerting.notify.base import PermanentError, json_bytes, post_bytes, rfc3339
from otelbundle.alerting.notify.chunks import PostLimit, send_in_parts, too_large


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
        "alerts": [_alert(alert, annotations[index]) for index, alert in enumerate(alerts)],
    }


def _alert(alert: Alert, annotations: Mapping[str, str]) -> dict[str, Any]:
    return {
        "status": alert.status,
        "labels": dict(alert.labels),
        "annotations": annotations,
        "startsAt": rfc3339(alert.starts_at),
        "endsAt": rfc3339(alert.ends_at),
        "generatorURL": alert.generator_url,
        "fingerprint": alert.fingerprint,
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
        self.limit = PostLimit()  # lowered by a 413, for the rest of the process (chunks.py)

    def send(self, alerts: Sequence[Alert]) -> None:
        """One message per part; a batch that fits is one message, as before."""

        def post(part: range) -> None:
            data = json_bytes(webhook_payload(alerts[part.start : part.stop], self.receiver))
            try:
                post_bytes(self.url, data, headers=self.headers, timeout=self.timeout)
            except PermanentError as exc:
                raise too_large(exc, len(data), len(part)) from None

        send_in_parts(alerts, _sizes(alerts), post, self.limit)


def _sizes(alerts: Sequence[Alert]) -> list[int]:
    """Each alert's encoded bytes in the ``alerts`` list of a message: what cutting needs."""
    return [len(json_bytes(_alert(alert, alert.annotations_with_evidence))) for alert in alerts]
