"""What leaves the engine: an active alert's labels, and the :class:`~otelbundle.alerting.alert.Alert`
a notification carries (annotations rendered, ``startsAt``/``endsAt``, the trace link, evidence).

Kept apart from the state machine (engine.py): these are pure functions of an active
alert, the ``alerting:`` section and, for evidence, the exemplar spans held.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Mapping, Sequence
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
    # What Prometheus has as the series (process + group-by labels): the templates' $labels.
    series: dict[str, str] = field(default_factory=dict)

    def needs_sending(self, now: float, resend_delay: float) -> bool:
        if self.state is AlertState.PENDING:
            return False
        if self.resolved_at > self.last_sent_at:  # resolved since it was last sent
            return True
        # Strictly later, as Prometheus's needsSending (LastSentAt.Add(resendDelay).Before(ts)): with
        # an interval equal to resend_delay, Prometheus re-sends every second evaluation.
        return self.last_sent_at + resend_delay < now


def series_labels(
    rule: Rule,
    key: tuple[str, ...],
    process: Mapping[str, str],
    scrubber: TextScrubber | None = None,
) -> dict[str, str]:
    """What stands for Prometheus's series: the process's labels (``instance``,
    ``service_name``), the group-by labels over them; a label whose value is empty is dropped
    (a missing attribute is no label). Annotations see these as ``$labels``, as Prometheus's
    templates see the series' labels only (alerting.go): no rule label, no ``alertname``.

    Group-by values come from the spans (``group_by: [url.full]`` carries a query string):
    they pass through ``scrubber`` as the exporters' values do, under their attribute's name."""
    grouped = rule.key_labels(key)
    if scrubber is not None and key != OVERFLOW_KEY:
        grouped = {
            label_name(attribute): scrubber.text(value, attribute)
            for attribute, value in zip(rule.group_by, key, strict=False)
        }
    return _non_empty({**process, **grouped})


def alert_labels(rule: Rule, series: Mapping[str, str], external_labels: Mapping[str, str]) -> dict[str, str]:
    """An alert's labels, built in Prometheus's order: the ``series`` labels, each of the
    rule's ``labels:`` over them (an empty value removes one), then ``alertname``
    (alerting.go); the external labels last, and only where the label is absent
    (notifier.go), so ``external_labels: {instance: x}`` does not merge the workers' alerts."""
    labels = _non_empty({**series, **rule.labels, "alertname": rule.name})
    for name, value in external_labels.items():
        labels.setdefault(name, value)
    return _non_empty(labels)


def _non_empty(labels: Mapping[str, str]) -> dict[str, str]:
    return {name: value for name, value in labels.items() if value != ""}


def sharing_labels(alerts: Iterable[ActiveAlert]) -> list[list[ActiveAlert]]:
    """One rule's alerts that carry the same labels, in groups of two or more.

    Group keys are distinct, their labels need not be: a rule label over a group-by label
    (``group_by: [severity]``, ``labels: {severity: page}``), an external label filling an
    absent one, or values the scrubber makes alike (``api_key=REDACTED``)."""
    by_labels: dict[frozenset[tuple[str, str]], list[ActiveAlert]] = {}
    for alert in alerts:
        by_labels.setdefault(frozenset(alert.labels.items()), []).append(alert)
    return [alike for alike in by_labels.values() if len(alike) > 1]


def speaker(alike: Sequence[ActiveAlert]) -> ActiveAlert | None:
    """Which of alerts with the same labels is sent (the others are not: a receiver sees
    one alert per label set). Prometheus refuses to evaluate such a rule at all; here the
    label set is taken as one alert that holds while any of its keys holds:

    * firing while any of them fires: the one that fired first (a stable ``startsAt``), so
      a second firing alert of those labels is never sent beside it;
    * none, while one is pending: a resolution now could be followed by the same labels
      firing at once; if the pending one is dropped instead, the resolved one is sent at
      the next evaluation (resolved alerts are re-sent for 15 minutes);
    * otherwise all are resolved: the one resolved last."""
    firing = [alert for alert in alike if alert.state is AlertState.FIRING]
    if firing:
        return min(firing, key=_fired_at)
    if any(alert.state is AlertState.PENDING for alert in alike):
        return None
    return max(alike, key=_resolved_at)


def _fired_at(alert: ActiveAlert) -> float:
    return alert.fired_at


def _resolved_at(alert: ActiveAlert) -> float:
    return alert.resolved_at


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

    # generator_url is one template for every rule: it sees the alert's own labels (alertname,
    # the rule's labels), the only way it can tell rules apart; annotations see the series'.
    def link(trace_id: str) -> str:
        if generator_url is None:
            return ""
        return generator_url.render(Context(alert.labels, alert.value, config.external_labels, trace_id))

    exemplar = alert.trace_ids[0] if alert.trace_ids else ""
    context = Context(alert.series, alert.value, config.external_labels, exemplar)
    annotations = {name: template.render(context) for name, template in rule.annotations.items()}
    if alert.trace_ids:
        annotations["trace_ids"] = ",".join(alert.trace_ids)
    url = link(exemplar)
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
