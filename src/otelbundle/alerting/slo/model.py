"""An SLO and the multi-window, multi-burn-rate alerts of the Google SRE workbook.

The workbook ("Alerting on SLOs", table 5-8) alerts when a share of the
period's error budget is spent within a long window, confirmed by a short
window (1/12 of the long one) so the alert also stops soon after the burning does:

    severity  long window  short window  budget spent  burn rate (30d period)
    page      1h           5m            2 %           14.4
    page      6h           30m           5 %           6
    ticket    3d           6h            10 %          1

The burn rate is how many times faster than "exactly on budget" errors arrive:
``error ratio / (1 - objective)``. For another period the same shares of budget
give the rates (``share x period / long window``); a period of 28d pages above 13.44.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass, field

from otelbundle.alerting.rules import SpanMatcher


@dataclass(frozen=True)
class BurnTier:
    """One row of the table: alert when ``budget_share`` of the period's budget burns in ``long_window``."""

    severity: str
    long_window: float
    short_window: float
    budget_share: float

    def burn_rate(self, period: float) -> float:
        """The threshold on the burn rate; rounded so both paths compare against the same number."""
        return round(self.budget_share * period / self.long_window, 6)

    @property
    def name(self) -> str:
        """``page-1h``: tells the tiers of one SLO apart (rule group names, test names)."""
        return f"{self.severity}-{prom_duration(self.long_window)}"


# An SLO's keys that decide what is done with its windows, not which spans enter them, which
# count as bad, or how long the windows are (``period`` sets the budget's window: not here).
SLO_NOT_IN_WINDOWS = frozenset({"name", "objective", "alert", "labels"})

HOUR, DAY = 3600.0, 86400.0
WORKBOOK_TIERS = (
    BurnTier("page", HOUR, 5 * 60.0, 0.02),
    BurnTier("page", 6 * HOUR, 30 * 60.0, 0.05),
    BurnTier("ticket", 3 * DAY, 6 * HOUR, 0.10),
)
LONGEST_WINDOW = max(tier.long_window for tier in WORKBOOK_TIERS)
GENERATED_LABELS = ("slo", "severity", "long_window", "short_window", "burn_rate")
"""Labels every burn-rate alert carries, set by the generator (an SLO's ``labels:`` may not set them)."""
SLO_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")


@dataclass(frozen=True)
class Slo:
    """One entry of ``slos:``: which spans, how many must be good, over what period.

    A span is bad when its status is ERROR, or, with ``good_if_faster_than``,
    when it takes longer than that (a span of exactly the threshold is good,
    as a Prometheus histogram bucket ``le`` includes its bound).
    """

    name: str
    matcher: SpanMatcher
    objective: float  # 0.995 for 99.5 %
    period: float
    good_if_faster_than: float | None = None
    alert: str = ""
    labels: Mapping[str, str] = field(default_factory=dict)
    fields: frozenset[str] = frozenset()  # span fields the selector's where: reads
    source: str = ""  # the entry's YAML: unchanged SLOs keep their windows across reloads
    location: str = ""
    # The entry's YAML without SLO_NOT_IN_WINDOWS: SLOs with equal ones fill their windows alike,
    # so an edited objective (thresholds only) keeps them. Empty: kept only for an unchanged source.
    window_source: str = ""

    @property
    def budget(self) -> float:
        """The share of spans that may be bad: ``1 - objective`` (rounded: 1 - 0.99 is not 0.01 in floats)."""
        return round(1.0 - self.objective, 12)

    @property
    def alertname(self) -> str:
        return self.alert or default_alertname(self.name)

    def tiers(self) -> tuple[BurnTier, ...]:
        return WORKBOOK_TIERS

    def tier_labels(self, tier: BurnTier) -> dict[str, str]:
        """The labels of ``tier``'s alert (GENERATED_LABELS over the SLO's own): one function for
        the in-process rule, its Prometheus twin and the promtool tests' expectations, so they agree."""
        return {
            **self.labels,
            "slo": self.name,
            "severity": tier.severity,
            "long_window": prom_duration(tier.long_window),
            "short_window": prom_duration(tier.short_window),
            "burn_rate": format_number(tier.burn_rate(self.period)),
        }


def default_alertname(slo_name: str) -> str:
    """``checkout-availability`` -> ``CheckoutAvailabilityBudgetBurn``."""
    words = re.split(r"[^A-Za-z0-9]+", slo_name)
    camel = "".join(word[:1].upper() + word[1:] for word in words if word)
    return f"{camel}BudgetBurn" if camel[:1].isalpha() else f"SLO{camel}BudgetBurn"


def prom_duration(seconds: float) -> str:
    """A duration as Prometheus writes it: ``30d``, ``1h30m``, ``5m``, ``250ms``."""
    millis = round(seconds * 1000)
    parts: list[str] = []
    for unit, size in (("d", 86_400_000), ("h", 3_600_000), ("m", 60_000), ("s", 1000), ("ms", 1)):
        count, millis = divmod(millis, size)
        if count:
            parts.append(f"{count}{unit}")
    return "".join(parts) or "0s"


def format_number(value: float) -> str:
    """A threshold as both rule files write it: ``14.4``, ``6``, ``0.005``."""
    if math.isfinite(value) and value == int(value):
        return str(int(value))
    return f"{value:.10g}"
