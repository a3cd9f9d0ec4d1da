"""PagerDuty Events API v2: one event per alert, ``dedup_key`` = the alert's fingerprint.

The fingerprint is stable across resends, so a re-sent firing alert updates the
same incident and the resolve event closes it. Evidence goes to
``custom_details.evidence`` (one object per exemplar trace) and its trace links to ``links``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from otelbundle.alerting.alert import Alert
from otelbundle.alerting.notify.base import post_json, rfc3339

EVENTS_URL = "https://events.pagerduty.com/v2/enqueue"
_SEVERITIES = {"critical", "error", "warning", "info"}


def pagerduty_severity(alert: Alert) -> str:
    severity = alert.labels.get("severity", "").lower()
    return severity if severity in _SEVERITIES else "error"


def pagerduty_event(alert: Alert, routing_key: str) -> dict[str, Any]:
    summary = alert.annotations.get("summary") or alert.name or "alert"
    event: dict[str, Any] = {
        "routing_key": routing_key,
        "event_action": "trigger" if alert.status == "firing" else "resolve",
        "dedup_key": alert.fingerprint,
    }
    if alert.status == "firing":
        event["payload"] = {
            "summary": summary[:1024],
            "source": alert.labels.get("service.name") or alert.labels.get("service_name") or "otelbundle",
            "severity": pagerduty_severity(alert),
            "timestamp": rfc3339(alert.starts_at),
            "custom_details": {
                "labels": dict(alert.labels),
                "annotations": dict(alert.annotations),
                "value": alert.value,
                "trace_ids": list(alert.trace_ids),
            },
        }
        if alert.evidence:
            event["payload"]["custom_details"]["evidence"] = [
                {
                    key: value
                    for key, value in (
                        ("trace_id", e.trace_id),
                        ("exception", e.exception),
                        ("span", e.span),
                        ("trace_url", e.trace_url),
                        ("logs", list(e.log_lines)),
                    )
                    if value
                }
                for e in alert.evidence
            ]
        links = [{"href": alert.generator_url, "text": "source"}] if alert.generator_url else []
        links += [
            {"href": e.trace_url, "text": f"trace {e.trace_id[:8]}"}
            for e in alert.evidence
            if e.trace_url and e.trace_url != alert.generator_url
        ]
        if links:
            event["links"] = links
    return event


class PagerDutyNotifier:
    def __init__(
        self, routing_key: str, *, url: str = EVENTS_URL, timeout: float = 5.0, send_resolved: bool = True
    ) -> None:
        self.name = "pagerduty"
        self.routing_key = routing_key
        self.url = url
        self.timeout = timeout
        self.send_resolved = send_resolved

    def send(self, alerts: Sequence[Alert]) -> None:
        """One POST per alert (the Events API takes one event per request); the first failure raises."""
        for alert in alerts:
            if alert.status == "resolved" and not self.send_resolved:
                continue
            post_json(self.url, pagerduty_event(alert, self.routing_key), timeout=self.timeout)
