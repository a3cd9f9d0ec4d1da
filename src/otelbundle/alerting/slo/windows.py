"""What one burn-rate alert of an SLO keeps in process: three windows of counts, bounded.

A burn-rate alert compares the bad share of spans over a long and a short
window (1h and 5m, ...) and says how much of the period's budget is left. All
three are counts of spans and bad spans; only the short window also keeps
exemplars (the newest bad spans, so the alert links a trace of the burst).
The memory does not depend on traffic or window length: measured per SLO in
docs/alerting.md (``bench/bench_alerting.py`` prints it).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from otelbundle.alerting.window import EXEMPLARS, CountRing, Totals, Window

PERIOD_BUCKETS = 30
"""The period (30d) in 30 buckets: a day each; the budget reads at most one day of extra history."""


@dataclass
class BurnTotals(Totals):
    """``count``/``errors`` are the period's (so the engine forgets the window only after a period
    without spans); the long and short windows have their own."""

    long_count: int = 0
    long_errors: int = 0
    short_count: int = 0
    short_errors: int = 0

    def remaining_budget(self, budget: float) -> float:
        """The share of the period's error budget not yet spent (negative: overspent); NaN without spans."""
        if self.count <= 0 or budget <= 0:
            return float("nan")
        return 1.0 - (self.errors / self.count) / budget


class BurnRateWindow:
    """The long, short and period windows of one burn-rate alert (a RuleWindow for the engine)."""

    __slots__ = ("long", "period", "short")

    def __init__(self, short_window: float, long_window: float, period: float) -> None:
        self.short = Window(short_window, track_bins=False, exemplar_kind="errors")
        self.long = CountRing(long_window)
        self.period = CountRing(period, PERIOD_BUCKETS)

    @property
    def size(self) -> float:
        return self.long.size

    @property
    def last_seen(self) -> float:
        return self.short.last_seen

    def add_batch(
        self,
        now: float,
        count: int,
        errors: int,
        total_duration: float,
        longest: float,
        bins: Mapping[int, int] | None,
        exemplar_rank: float,
        exemplar_trace_id: int,
    ) -> None:
        self.short.add_batch(
            now, count, errors, total_duration, longest, None, exemplar_rank, exemplar_trace_id
        )
        self.long.add(now, count, errors)
        self.period.add(now, count, errors)

    def totals(self, now: float) -> BurnTotals:
        count, errors = self.period.totals(now)
        long_count, long_errors = self.long.totals(now)
        short = self.short.totals(now)
        return BurnTotals(
            count=count,
            errors=errors,
            long_count=long_count,
            long_errors=long_errors,
            short_count=short.count,
            short_errors=short.errors,
        )

    def exemplars(self, now: float, limit: int = EXEMPLARS) -> list[str]:
        """The newest bad spans of the short window: the burst the alert is about."""
        return self.short.exemplars(now, limit)
