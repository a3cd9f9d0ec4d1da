"""Sliding windows over spans: a ring of sub-window buckets plus a running total of closed buckets.

A span updates only the open bucket (O(1)). When a bucket closes it is folded
into the running total once; when it falls out of the window its counts are
*subtracted*, so an evaluation costs O(bins), never O(spans). Duration bins
(the DDSketch log mapping: any quantile within 1 % relative error, bins add and
subtract exactly) are kept only for rules that ask for a quantile.
"""

from __future__ import annotations

import math
from array import array

RELATIVE_ACCURACY = 0.01
_GAMMA = (1 + RELATIVE_ACCURACY) / (1 - RELATIVE_ACCURACY)
_INV_LOG_GAMMA = 1.0 / math.log(_GAMMA)
_MIN_DURATION = 1e-9  # durations below 1 ns share the lowest bin
SUB_BUCKETS = 10
EXEMPLARS_PER_BUCKET = 3


def bin_index(seconds: float) -> int:
    return math.ceil(math.log(seconds if seconds > _MIN_DURATION else _MIN_DURATION) * _INV_LOG_GAMMA)


def bin_value(index: int) -> float:
    """The representative value of a bin: within RELATIVE_ACCURACY of anything mapped to it."""
    return 2 * _GAMMA**index / (_GAMMA + 1)


class Bins:
    """Counts per log-scale bin, stored densely from the lowest to the highest bin seen:
    4 bytes per bin instead of a dict entry's ~80, which matters at 10 000 windows."""

    __slots__ = ("counts", "offset")

    def __init__(self) -> None:
        self.offset = 0
        self.counts = array("I")

    def add(self, index: int, n: int = 1) -> None:
        counts = self.counts
        if not counts:
            self.offset = index
            counts.append(n)
            return
        position = index - self.offset
        if position < 0:
            self.counts = counts = array("I", bytes(4 * -position)) + counts
            self.offset = index
            position = 0
        elif position >= len(counts):
            counts.extend(array("I", bytes(4 * (position - len(counts) + 1))))
        counts[position] = max(0, counts[position] + n)

    def merge(self, other: Bins, sign: int) -> None:
        for position, n in enumerate(other.counts):
            if n:
                self.add(other.offset + position, sign * n)

    def items(self) -> list[tuple[int, int]]:
        return [(self.offset + i, n) for i, n in enumerate(self.counts) if n > 0]

    def __bool__(self) -> bool:
        return any(n > 0 for n in self.counts)


class Totals:
    __slots__ = ("bins", "count", "errors", "total_duration")

    def __init__(self, track_bins: bool = True) -> None:
        self.count = 0
        self.errors = 0
        self.total_duration = 0.0
        self.bins: Bins | None = Bins() if track_bins else None

    def add(self, duration: float, error: bool) -> None:
        self.count += 1
        if error:
            self.errors += 1
        self.total_duration += duration
        if self.bins is not None:
            self.bins.add(bin_index(duration))

    def merge(self, other: Totals, sign: int = 1) -> None:
        self.count += sign * other.count
        self.errors += sign * other.errors
        self.total_duration += sign * other.total_duration
        if self.bins is not None and other.bins is not None:
            self.bins.merge(other.bins, sign)

    def copy(self) -> Totals:
        out = Totals(self.bins is not None)
        out.merge(self)
        return out

    def quantile(self, q: float) -> float:
        """The q-quantile of durations (nearest rank over bins); NaN when empty or not tracked."""
        if self.count <= 0 or self.bins is None:
            return math.nan
        rank = max(1, math.ceil(q * self.count))
        seen = 0
        last = None
        for index, n in self.bins.items():
            seen += n
            last = index
            if seen >= rank:
                return bin_value(index)
        return bin_value(last) if last is not None else math.nan


class Bucket:
    __slots__ = ("exemplars", "max_duration", "start", "totals")

    def __init__(self, start: float, track_bins: bool) -> None:
        self.start = start
        self.totals = Totals(track_bins)
        self.max_duration = 0.0
        self.exemplars: list[tuple[float, int]] = []  # (rank, trace id); highest rank is best


class Window:
    """One (rule, group key)'s recent spans over ``size`` seconds.

    ``exemplars``: "errors" keeps the newest error spans, "slowest" the slowest
    spans, "newest" the newest matching spans.
    """

    __slots__ = ("_buckets", "_closed", "_width", "exemplar_kind", "last_seen", "size", "track_bins")

    def __init__(self, size: float, track_bins: bool = True, exemplar_kind: str = "newest") -> None:
        self.size = size
        self._width = size / SUB_BUCKETS
        # A list, not a deque: at most SUB_BUCKETS + 1 entries, and a deque preallocates ~450 bytes.
        self._buckets: list[Bucket] = []
        self._closed = Totals(track_bins)  # every bucket but the last (open) one
        self.track_bins = track_bins
        self.exemplar_kind = exemplar_kind
        self.last_seen = -math.inf

    def add(self, now: float, duration: float, error: bool, trace_id: int) -> None:
        buckets = self._buckets
        start = now - (now % self._width)
        if not buckets or buckets[-1].start < start:
            if buckets:
                self._closed.merge(buckets[-1].totals)
            buckets.append(Bucket(start, self.track_bins))
            self._expire(now)
        bucket = buckets[-1]
        bucket.totals.add(duration, error)
        if duration > bucket.max_duration:
            bucket.max_duration = duration
        self.last_seen = now
        if trace_id:
            self._exemplar(bucket, now, duration, error, trace_id)

    def _exemplar(self, bucket: Bucket, now: float, duration: float, error: bool, trace_id: int) -> None:
        kind = self.exemplar_kind
        if kind == "errors" and not error:
            return
        rank = duration if kind == "slowest" else now
        exemplars = bucket.exemplars
        if len(exemplars) < EXEMPLARS_PER_BUCKET:
            exemplars.append((rank, trace_id))
            return
        lowest = 0 if exemplars[0][0] <= exemplars[1][0] else 1
        if exemplars[2][0] < exemplars[lowest][0]:
            lowest = 2
        if rank >= exemplars[lowest][0]:
            exemplars[lowest] = (rank, trace_id)

    def _expire(self, now: float) -> None:
        # A bucket leaves once it lies entirely before the window [now - size, now].
        buckets = self._buckets
        while len(buckets) > 1 and buckets[0].start + self._width <= now - self.size:
            self._closed.merge(buckets.pop(0).totals, sign=-1)
        if len(buckets) == 1 and buckets[0].start + self._width <= now - self.size:
            buckets.pop(0)  # the open bucket itself expired; it was never folded in

    def advance(self, now: float) -> Totals:
        """Totals over the window at ``now``: the closed buckets plus the open one."""
        self._expire(now)
        totals = self._closed.copy()
        if self._buckets:
            totals.merge(self._buckets[-1].totals)
        return totals

    def max_duration(self) -> float:
        return max((b.max_duration for b in self._buckets), default=math.nan)

    def exemplars(self, limit: int = 3) -> list[str]:
        ranked = sorted((e for b in self._buckets for e in b.exemplars), reverse=True)
        return [format(trace_id, "032x") for _, trace_id in ranked[:limit]]
