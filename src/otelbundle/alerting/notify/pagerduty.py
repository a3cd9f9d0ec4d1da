"""PagerDuty Events API v2: one event per alert, ``dedup_key`` = the alert's fingerprint.

The fingerprint is stable across resends, so a re-sent firing alert updates the
same incident and the resolve event closes it. Each event is sent on its own: a refused one
does not stop the others, and a retry re-sends only the events not yet accepted. Evidence goes to
``custom_details.evidence`` (one object per exemplar trace) and its trace links to ``links``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from otelbundle.alerting.alert import Alert
from otelbundle.alerting.notify.base import PermanentError, RetryableError, post_json, rfc3339

EVENTS_URL = "https://events.pagerduty.com/v2/enqueue"
_SEVERITIES = {"critical", "error", "warning", "info"}
# The SLO generator's severities (slo/model.py WORKBOOK_TIERS), and the SRE workbook's: a page wakes
# someone now (PagerDuty's most urgent level), a ticket is for working hours.
_SLO_SEVERITIES = {"page": "critical", "ticket": "warning"}


def pagerduty_severity(alert: Alert) -> str:
    """PagerDuty's severity from the ``severity`` label; a value PagerDuty does not know is ``error``."""
    severity = alert.labels.get("severity", "").lower()
    if severity in _SEVERITIES:
        return severity
    return _SLO_SEVERITIES.get(severity, "error")


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
                        ("logger", e.logger),
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
        """One POST per alert (the Events API takes one event per request), each on its own.

        An event PagerDuty refuses (4xx) is given up on and the next one is sent: one bad
        event must not cost the others. A retryable failure (429, 5xx, no connection) ends the
        attempt: the service is busy or away, so the rest waits for the retry with that event,
        and the events already accepted are not sent again. Either error names the refused
        events (``refused``): only they are handed back, and the accepted ones are not re-sent
        at the engine's next re-send.
        """
        chosen = [a for a in alerts if a.status == "firing" or self.send_resolved]
        refusals: list[PermanentError] = []
        refused: list[Alert] = []
        for index, alert in enumerate(chosen):
            try:
                post_json(self.url, pagerduty_event(alert, self.routing_key), timeout=self.timeout)
            except PermanentError as exc:
                refusals.append(exc)
                refused.append(alert)
            except RetryableError as exc:
                pending = chosen[index:]
                accepted = index - len(refused)
                raise RetryableError(
                    f"{exc} ({len(pending)} of {len(chosen)} events not yet accepted)",
                    exc.retry_after,
                    retry=pending,
                    lost=_refused(refusals, len(chosen), accepted, so_far=True) if refusals else None,
                    refused=refused,
                    unreachable=exc.unreachable,
                ) from None
        if refusals:
            accepted = len(chosen) - len(refused)
            raise PermanentError(_refused(refusals, len(chosen), accepted), refused=refused)


def _refused(
    refused: Sequence[PermanentError], total: int, accepted: int = 0, *, so_far: bool = False
) -> str:
    """The first refusal (its status leads, for the log's once-per-status), and how many;
    ``so_far``: a retry is still to send the rest, so the accepted ones are not "the other" ones."""
    if total == 1:
        return str(refused[0])
    if not accepted:
        others = ""
    elif so_far:
        others = f", {accepted} accepted so far"
    else:
        others = f", the other {accepted} accepted"
    return f"{refused[0]} ({len(refused)} of {total} events refused{others})"
