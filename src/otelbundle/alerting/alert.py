"""The alert as notifiers see it: the one value passed from the engine to every channel.

Kept separate from the engine so notifiers can be built and tested without it,
and so the data flows one way: engine → Alert → notifiers.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from enum import Enum
from typing import Literal

AlertStatus = Literal["firing", "resolved"]
ENDED_BY_RELOAD = "resolved_reason"
"""The annotation that carries ``Alert.ended_by_reload`` (webhook and email show annotations)."""
EVIDENCE_ANNOTATIONS = ("exception", "span", "logger", "trace_url", "logs")
"""The annotations the webhook and Alertmanager bodies carry the best evidence in."""


class AlertState(str, Enum):
    """Where an alert is in its lifecycle (Prometheus's states); a str, so it compares to its name."""

    PENDING = "pending"
    FIRING = "firing"
    INACTIVE = "inactive"

    @property
    def reported(self) -> str:
        """How a transition into this state is told: an alert becomes inactive by resolving."""
        return "resolved" if self is AlertState.INACTIVE else self.value


@dataclass(frozen=True)
class Alert:
    """One alert instance (a rule and a group key) at the moment it is sent.

    ``labels`` already hold ``alertname``, the rule's labels, the group-by labels
    and the external labels. ``annotations`` are rendered but *not* escaped:
    each notifier escapes for its own channel. ``starts_at`` is when it started
    firing; ``ends_at`` is a future expiry while firing (Prometheus: now + 4 x
    max(interval, resend_delay)) and the resolve time once resolved. ``evidence``
    (firing alerts of span rules) says what failed in its exemplar traces, scrubbed
    but not escaped (built by evidence.py). ``ended_by_reload`` says why a firing alert
    resolved without its condition deciding it (a reload took its rule away, or its
    labels): the people's channels are told once; Alertmanager is not, as Prometheus
    tells it nothing when a rule goes (the alert expires at its last ``endsAt``).
    """

    labels: Mapping[str, str]
    annotations: Mapping[str, str]
    status: AlertStatus
    starts_at: datetime
    ends_at: datetime
    generator_url: str = ""
    value: float = 0.0
    trace_ids: tuple[str, ...] = field(default_factory=tuple)
    evidence: tuple[Evidence, ...] = field(default_factory=tuple)
    ended_by_reload: str = ""

    @property
    def name(self) -> str:
        return self.labels.get("alertname", "")

    @property
    def annotations_with_evidence(self) -> dict[str, str]:
        """The annotations plus the best evidence (:data:`EVIDENCE_ANNOTATIONS`); the rule's own
        annotations win over evidence of the same name."""
        return {**evidence_annotations(self.evidence), **self.annotations}

    @property
    def fingerprint(self) -> str:
        """Stable id of the alert from its sorted labels (PagerDuty dedup_key, Slack/email threading)."""
        canonical = "\xff".join(f"{k}\xfe{v}" for k, v in sorted(self.labels.items()))
        # surrogatepass: a label holding a lone surrogate (a file name decoded with surrogateescape)
        # raised here, and every channel that routes by fingerprint lost the alert
        return hashlib.sha256(canonical.encode("utf-8", "surrogatepass")).hexdigest()[:16]


@dataclass(frozen=True)
class Evidence:
    """One exemplar trace's evidence, or one record's of a log rule (``logger`` set; its
    ``trace_id`` "" when the record was logged outside a trace); every text already
    scrubbed, none escaped."""

    trace_id: str
    span_name: str = ""
    route: str = ""
    exception_type: str = ""
    exception_message: str = ""
    trace_url: str = ""
    log_lines: tuple[str, ...] = ()
    logger: str = ""

    @property
    def exception(self) -> str:
        """``ValueError: card declined``, or the type alone, or ""."""
        if self.exception_type and self.exception_message:
            return f"{self.exception_type}: {self.exception_message}"
        return self.exception_type or self.exception_message

    @property
    def span(self) -> str:
        """``POST /checkout (route /checkout)``; the route only when it adds something."""
        if self.route and self.route not in self.span_name:
            return f"{self.span_name} (route {self.route})" if self.span_name else f"route {self.route}"
        return self.span_name


def best(evidence: Sequence[Evidence]) -> Evidence | None:
    """The evidence a one-line medium shows: the first that names an exception, else the first."""
    return next((e for e in evidence if e.exception), evidence[0] if evidence else None)


def evidence_annotations(evidence: Sequence[Evidence]) -> dict[str, str]:
    """The best evidence as flat annotations (webhook and Alertmanager bodies); empty ones left out."""
    chosen = best(evidence)
    if chosen is None:
        return {}
    values = {
        "exception": chosen.exception,
        "span": chosen.span,
        "logger": chosen.logger,
        "trace_url": chosen.trace_url,
        "logs": "\n".join(chosen.log_lines),
    }
    return {key: value for key, value in values.items() if value}
