"""Sliding windows over spans: a ring of sub-window buckets plus a running total.

Each span updates one bucket and the running total in O(1). When a bucket
falls out of the window its counts are *subtracted* from the total, so an
evaluation costs O(bins), never O(spans). Durations go into log-scale bins
(the DDSketch mapping): any quantile is within 1 % relative error of the exact
value, and bins add and subtract exactly.
"""

from __future__ import annotations

import math
from collections import Counter, deque
from dataclasses import dataclass, field

RELATIVE_ACCURACY = 0.01
_GAMMA = (1 + RELATIVE_ACCURACY) / (1 - RELATIVE_ACCURACY)
_LOG_GAMMA = math.log(_GAMMA)
_MIN_DURATION = 1e-9  # durations below 1 ns share the lowest bin
SUB_BUCKETS = 10
EXEMPLARS_PER_BUCKET = 3


def bin_index(seconds: float) -> int:
    return math.ceil(math.log(max(seconds, _MIN_DURATION)) / _LOG_GAMMA)


def bin_value(index: int) -> float:
    """The representative value of a bin: within RELATIVE_ACCURACY of anything mapped to it."""
    return 2 * _GAMMA**index / (_GAMMA + 1)


@dataclass
class Totals:
    count: int = 0
    errors: int = 0
    total_duration: float = 0.0
    bins: Counter[int] = field(default_factory=Counter)

    def add(self, duration: float, error: bool) -> None:
        self.count += 1
        self.errors += int(error)
        self.total_duration += duration
        self.bins[bin_index(duration)] += 1

    def subtract(self, other: Totals) -> None:
        self.count -= other.count
        self.errors -= other.errors
        self.total_duration -= other.total_duration
        self.bins.subtract(other.bins)
        for index in [i for i, n in self.bins.items() if n <= 0]:
            del self.bins[index]

    def quantile(self, q: float) -> float:
        """The q-quantile of durations (nearest rank over bins); NaN when empty."""
        if self.count <= 0:
            return math.nan
        rank = max(1, math.ceil(q * self.count))
        seen = 0
        for index in sorted(self.bins):
            seen += self.bins[index]
            if seen >= rank:
                return bin_value(index)
        return bin_value(max(self.bins))


@dataclass
class Bucket:
    start: float
    totals: Totals = field(default_factory=Totals)
    max_duration: float = 0.0
    # (sort key, trace id): errors, the slowest, or the newest, depending on the rule.
    exemplars: list[tuple[float, str]] = field(default_factory=list)


class Window:
    """One (rule, group key)'s recent spans over ``size`` seconds."""

    __slots__ = ("_buckets", "_width", "last_seen", "size", "total")

    def __init__(self, size: float) -> None:
        self.size = size
        self._width = size / SUB_BUCKETS
        self._buckets: deque[Bucket] = deque()
        self.total = Totals()
        self.last_seen = -math.inf

    def add(self, now: float, duration: float, error: bool, trace_id: str, exemplar_key: float) -> None:
        start = now - (now % self._width)
        if not self._buckets or self._buckets[-1].start < start:
            self._buckets.append(Bucket(start))
            self._expire(now)
        bucket = self._buckets[-1]
        bucket.totals.add(duration, error)
        self.total.add(duration, error)
        bucket.max_duration = max(bucket.max_duration, duration)
        self.last_seen = now
        if trace_id:
            exemplars = bucket.exemplars
            if len(exemplars) < EXEMPLARS_PER_BUCKET:
                exemplars.append((exemplar_key, trace_id))
            else:
                lowest = min(range(len(exemplars)), key=lambda i: exemplars[i][0])
                if exemplar_key > exemplars[lowest][0]:
                    exemplars[lowest] = (exemplar_key, trace_id)

    def _expire(self, now: float) -> None:
        # A bucket leaves once it lies entirely before the window [now - size, now].
        while self._buckets and self._buckets[0].start + self._width <= now - self.size:
            self.total.subtract(self._buckets.popleft().totals)

    def advance(self, now: float) -> Totals:
        self._expire(now)
        return self.total

    def max_duration(self) -> float:
        return max((b.max_duration for b in self._buckets), default=math.nan)

    def exemplars(self, limit: int = 3) -> list[str]:
        ranked = sorted((e for b in self._buckets for e in b.exemplars), reverse=True)
        return [trace_id for _, trace_id in ranked[:limit]]

    def empty(self) -> bool:
        return self.total.count <= 0
