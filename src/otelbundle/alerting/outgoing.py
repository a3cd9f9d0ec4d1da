"""What leaves the engine: an active alert's labels, and the :class:`~otelbundle.alerting.alert.Alert`
a notification carries (annotations rendered, ``startsAt``/``endsAt``, the trace link, evidence).

Kept apart from the state machine (engine.py): these are pure functions of an active
alert, the ``alerting:`` section and, for evidence, the exemplar spans held.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timezone

from otelbundle.alerting.alert import Alert, AlertState, Evidence
from otelbundle.alerting.evidence import TextScrubber, build_evidence, build_record_evidence
from otelbundle.alerting.exemplar_records import ExemplarRecords
from otelbundle.alerting.exemplar_spans import ExemplarSpans
from otelbundle.alerting.rules import OVERFLOW_KEY, Rule, label_name
from otelbundle.alerting.section import AlertingConfig
from otelbundle.alerting.templates import Context


@dataclass
class ActiveAlert:
    rule: Rule
    key: tuple[str, ...]
    labels: dict[str, str]
    state: AlertState
    active_at: float
    value: float = math.nan
    trace_ids: list[str] = field(default_factory=list)
    fired_at: float = 0.0
    resolved_at: float = 0.0
    last_sent_at: float = 0.0
    keep_firing_since: float = 0.0

    def needs_sending(self, now: float, resend_delay: float) -> bool:
        if self.state is AlertState.PENDING:
            return False
        if self.resolved_at > self.last_sent_at:  # resolved since it was last sent
            return True
        # Strictly later, as Prometheus's needsSending (LastSentAt.Add(resendDelay).Before(ts)): with
        # an interval equal to resend_delay, Prometheus re-sends every second evaluation.
        return self.last_sent_at + resend_delay < now


def alert_labels(
    rule: Rule,
    key: tuple[str, ...],
    config: AlertingConfig,
    process: Mapping[str, str],
    scrubber: TextScrubber | None = None,
) -> dict[str, str]:
    """The process's labels first, so external labels, a rule's ``labels:`` and group-by
    labels override them; a label whose value ends up empty is dropped (as in Prometheus).

    Group-by values come from the spans (``group_by: [url.full]`` carries a query string):
    they pass through ``scrubber`` as the exporters' values do, under their attribute's name.
    Annotations are rendered from these labels, so they see the scrubbed values too."""
    grouped = rule.key_labels(key)
    if scrubber is not None and key != OVERFLOW_KEY:
        grouped = {
            label_name(attribute): scrubber.text(value, attribute)
            for attribute, value in zip(rule.group_by, key, strict=False)
        }
    labels = {**process, **config.external_labels, **rule.labels, **grouped}
    labels["alertname"] = rule.name
    return {name: value for name, value in labels.items() if value != ""}


def outgoing_alert(
    alert: ActiveAlert,
    now: float,
    config: AlertingConfig,
    exemplar_spans: ExemplarSpans,
    scrubber: TextScrubber | None,
    exemplar_records: ExemplarRecords | None = None,
    to_wall: Callable[[float], float] | None = None,
) -> Alert:
    """The alert as it is sent at ``now``: ``endsAt`` = now + 4 x max(interval, resend_delay)
    while firing, the resolve time once resolved; evidence for firing alerts only (a log
    rule's from its own records in ``exemplar_records``). ``to_wall`` turns the engine's
    instants into wall time (clock.py; None: they are wall time already)."""
    rule = alert.rule
    generator_url = config.generator_url

    def link(trace_id: str) -> str:
        if generator_url is None:
            return ""
        return generator_url.render(Context(alert.labels, alert.value, config.external_labels, trace_id))

    exemplar = alert.trace_ids[0] if alert.trace_ids else ""
    context = Context(alert.labels, alert.value, config.external_labels, exemplar)
    annotations = {name: template.render(context) for name, template in rule.annotations.items()}
    if alert.trace_ids:
        annotations["trace_ids"] = ",".join(alert.trace_ids)
    url = generator_url.render(context) if generator_url else ""
    resolved = alert.state is AlertState.INACTIVE
    if resolved:
        evidence: tuple[Evidence, ...] = ()
    elif rule.logs is not None and exemplar_records is not None:
        records = exemplar_records.get((rule.group, rule.name), alert.key)
        evidence = build_record_evidence(records, exemplar_spans, link, scrubber)
    else:
        evidence = build_evidence(alert.trace_ids, exemplar_spans, link, scrubber)
    valid_for = 4 * max(rule.interval, config.resend_delay)
    wall = to_wall if to_wall is not None else float
    return Alert(
        labels=dict(alert.labels),
        annotations=annotations,
        status="resolved" if resolved else "firing",
        starts_at=_utc(wall(alert.fired_at or alert.active_at)),
        ends_at=_utc(wall(alert.resolved_at if resolved else now + valid_for)),
        generator_url=url,
        value=alert.value,
        trace_ids=tuple(alert.trace_ids),
        evidence=evidence,
    )


def _utc(seconds: float) -> datetime:
    return datetime.fromtimestamp(seconds, tz=timezone.utc)
