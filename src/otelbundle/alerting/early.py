"""What decides an *early* evaluation: which spans can make a condition hold, and when `for` elapses.

Between its interval ticks, a rule is evaluated early (engine.py ``Engine.fold``)
for the group keys that just received spans able to make its condition hold,
and for pending alerts whose ``for`` has just elapsed. This module holds both
tests, so the fold asks one cheap question per tally and the manager's thread
knows when to wake for ``for``:

* :func:`rising_test`: from ``aggregate op threshold``, which tallies of spans
  can turn the condition from not holding to holding: errors for ``error_count``
  / ``error_ratio > x``, spans longer than the threshold for duration
  aggregates ``> x``, any span for ``count`` / ``rate > x``, none for ``absent``
  or ``count < x`` (spans only make those false). A key whose last verdict was
  "no verdict" (fewer than ``min_spans``) or an empty window is watched for any
  span (``RuleState.watch_any``), and so is a new key of a ``<``, ``==`` or
  ``!=`` rule (:func:`new_windows_matter`). The tick remains the authority: a
  key these tests pass over is evaluated at the next tick, as it always was.
* :class:`Deadlines`: a heap of ``active_at + for`` of pending alerts.
"""

from __future__ import annotations

import heapq
import itertools
from collections.abc import Callable, Iterable

from otelbundle.alerting.rules import Aggregate, Condition

Rises = Callable[[int, int, float], bool]
"""(spans, errors, longest duration) of a tally -> whether they can make the condition hold."""

_COUNTS = (Aggregate.COUNT, Aggregate.RATE)
_ERRORS = (Aggregate.ERROR_COUNT, Aggregate.ERROR_RATIO)


def _any(count: int, errors: int, longest: float) -> bool:
    return True


def _has_errors(count: int, errors: int, longest: float) -> bool:
    return errors > 0


def _has_good(count: int, errors: int, longest: float) -> bool:
    return errors < count


def new_windows_matter(condition: Condition) -> bool:
    """Whether a key's first spans can make the condition hold though :func:`rising_test` says
    no: for ``<``, ``==`` and ``!=`` a new window's value starts anywhere (``max_duration < 1s``
    holds on one short span); for ``>`` the rising test decides on the first tally as on any."""
    return condition.aggregate is not Aggregate.ABSENT and condition.op not in (">", ">=")


def rising_test(condition: Condition) -> Rises | None:
    """The test for ``condition``; None when arriving spans can never make it hold."""
    aggregate, op, threshold = condition.aggregate, condition.op, condition.threshold
    if aggregate is Aggregate.ABSENT:
        return None
    if op in (">", ">="):
        if aggregate in _COUNTS:
            return _any
        if aggregate in _ERRORS:
            return _has_errors
        # avg, max and quantiles of durations rise above x only through a span longer than x
        if op == ">":
            return lambda count, errors, longest: longest > threshold
        return lambda count, errors, longest: longest >= threshold
    if op in ("<", "<="):
        if aggregate in (*_COUNTS, Aggregate.ERROR_COUNT, Aggregate.MAX_DURATION):
            return None  # spans only raise these
        if aggregate is Aggregate.ERROR_RATIO:
            return _has_good
        return _any  # avg and quantiles fall through a shorter span
    return _any  # == and !=


class Deadlines:
    """``active_at + for`` of pending alerts, earliest first; entries are checked when due.

    An entry outlives its alert when the alert is dropped or fires at a tick;
    :meth:`due` hands it out anyway and the engine skips alerts that are no
    longer pending. When the heap has grown past ``limit`` the engine rebuilds
    it from its pending alerts (:meth:`rebuild`), so it stays bounded by them.
    """

    MIN_LIMIT = 1024

    def __init__(self) -> None:
        self._heap: list[tuple[float, int, tuple[str, str], tuple[str, ...]]] = []
        self._order = itertools.count()
        self.limit = self.MIN_LIMIT

    def add(self, at: float, rule: tuple[str, str], key: tuple[str, ...]) -> bool:
        """Adds a deadline; True when the heap has outgrown its limit and should be rebuilt."""
        heapq.heappush(self._heap, (at, next(self._order), rule, key))
        return len(self._heap) > self.limit

    def rebuild(self, entries: Iterable[tuple[float, tuple[str, str], tuple[str, ...]]]) -> None:
        self._heap = [(at, next(self._order), rule, key) for at, rule, key in entries]
        heapq.heapify(self._heap)
        self.limit = max(self.MIN_LIMIT, 2 * len(self._heap))

    def next(self) -> float:
        """The earliest deadline, or infinity."""
        return self._heap[0][0] if self._heap else float("inf")

    def due(self, now: float) -> list[tuple[tuple[str, str], tuple[str, ...]]]:
        """Every (rule, key) whose deadline is ``now`` or earlier, removed from the heap."""
        found = []
        heap = self._heap
        while heap and heap[0][0] <= now:
            _, _, rule, key = heapq.heappop(heap)
            found.append((rule, key))
        return found

    def __len__(self) -> int:
        return len(self._heap)

    def clear(self) -> None:
        self._heap.clear()
