"""The alert as notifiers see it: the one value passed from the engine to every channel.

Kept separate from the engine so notifiers can be built and tested without it,
and so the data flows one way: engine → Alert → notifiers.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from enum import Enum
from typing import Literal

AlertStatus = Literal["firing", "resolved"]


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
    max(interval, resend_delay)) and the resolve time once resolved.
    """

    labels: Mapping[str, str]
    annotations: Mapping[str, str]
    status: AlertStatus
    starts_at: datetime
    ends_at: datetime
    generator_url: str = ""
    value: float = 0.0
    trace_ids: tuple[str, ...] = field(default_factory=tuple)

    @property
    def name(self) -> str:
        return self.labels.get("alertname", "")

    @property
    def fingerprint(self) -> str:
        """Stable id of the alert from its sorted labels (PagerDuty dedup_key, Slack/email threading)."""
        canonical = "\xff".join(f"{k}\xfe{v}" for k, v in sorted(self.labels.items()))
        return hashlib.sha256(canonical.encode("utf-8")).hexdigest()[:16]
