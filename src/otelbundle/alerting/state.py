"""One rule's windows, keyed by its group-by values, and how a tally of spans enters them."""

from __future__ import annotations

import logging
import math
import threading
from collections import Counter
from collections.abc import Callable, Iterable, Mapping, Sequence
from itertools import repeat

from opentelemetry.sdk.trace import ReadableSpan

from otelbundle.alerting.early import new_windows_matter, rising_test
from otelbundle.alerting.predicates import SpanView
from otelbundle.alerting.rules import OVERFLOW_KEY, Rule
from otelbundle.alerting.window import GAMMA, RuleWindow, Window
from otelbundle.config.report import warn_seen

_log = logging.getLogger("otelbundle.alerting")


class Tally:
    """Spans folded together before they reach a window: what a window update needs.

    Per span only the span and its duration are appended, the duration in the
    SDK's integer nanoseconds (a subtraction, no division); ``close()`` then
    counts, sums, finds the slowest and bins them in C loops, once per tally
    rather than once per span. ``errors``/``last_error`` are only kept where
    errors are decided per span; where a whole tally is or is not an error (see
    batch.py) its ``last`` span stands in.
    """

    __slots__ = (
        "bins",
        "count",
        "durations",
        "errors",
        "last",
        "last_error",
        "longest",
        "slowest",
        "spans",
        "total",
        "track_bins",
    )

    def __init__(self, track_bins: bool) -> None:
        self.spans: list[ReadableSpan] = []
        self.durations: list[int] = []  # nanoseconds, parallel to spans
        self.track_bins = track_bins
        self.errors = 0
        self.last_error: ReadableSpan | None = None
        self.slowest: ReadableSpan | None = None
        self.last: ReadableSpan | None = None
        self.count = 0
        self.total = 0.0  # seconds, from here on
        self.longest = 0.0
        self.bins: Mapping[int, int] | None = None

    def add(self, span: ReadableSpan, duration_ns: int) -> None:
        self.spans.append(span)
        self.durations.append(duration_ns)

    def close(self) -> None:
        durations = self.durations
        self.count = count = len(durations)
        if not count:
            return
        shortest = min(durations)
        if shortest < 0:  # an end before its start (clock steps): counts as 0, as duration_of says
            durations = self.durations = [d if d > 0 else 0 for d in durations]
        longest = max(durations)
        self.longest = longest / 1e9
        self.slowest = self.spans[durations.index(longest)]
        self.last = self.spans[-1]
        self.total = sum(durations) / 1e9
        if self.track_bins:  # window.bin_index over every duration, without a Python frame per span
            floored = durations if shortest >= 1 else [d if d > 1 else 1 for d in durations]
            self.bins = Counter(map(math.ceil, map(math.log, floored, repeat(GAMMA))))

    @classmethod
    def merged(cls, tallies: Sequence[Tally], track_bins: bool) -> Tally:
        """Closed tallies as one (several signatures under one rule's key): counts and
        durations summed, the slowest span of them all, and as ``last`` the one of their
        ``last`` spans (each its tally's last queued) that ended last."""
        merged = cls(track_bins)
        merged.count = sum(tally.count for tally in tallies)
        merged.total = sum(tally.total for tally in tallies)
        slowest = max(tallies, key=_longest)
        merged.longest, merged.slowest = slowest.longest, slowest.slowest
        merged.last = newest(tally.last for tally in tallies)
        if track_bins:
            bins: Counter[int] = Counter()
            for tally in tallies:
                if tally.bins:
                    bins.update(tally.bins)
            merged.bins = bins
        return merged

    def count_slower(self, threshold: float) -> int:
        """How many of the spans took longer than ``threshold`` seconds (a C loop, no frame per span)."""
        return sum(map((threshold * 1e9).__lt__, self.durations))


def _longest(tally: Tally) -> float:
    return tally.longest


def newest(spans: Iterable[ReadableSpan | None]) -> ReadableSpan | None:
    """The span that ended last (None when there is none)."""
    found: ReadableSpan | None = None
    for span in spans:
        if span is not None and (found is None or (span.end_time or 0) > (found.end_time or 0)):
            found = span
    return found


def label_value(value: object) -> str:
    """A group key part: a missing attribute is the empty label (no label on the alert);
    0 and false are values of their own. Booleans read ``true``/``false``, as the same
    attribute does as a Prometheus label on the collector's path."""
    if value is None:
        return ""
    if value is True or value is False:
        return "true" if value else "false"
    return str(value)


class RuleState:
    """One rule's windows, keyed by group-by values; capped at ``rule.max_group_keys``.

    Written by the engine thread only (the processor folds spans there), read by
    the same thread at evaluation; the lock guards against tests and reloads that
    reach in from elsewhere.

    ``dirty`` collects the keys that received spans able to make the condition
    hold since the engine last looked (early.py ``rising_test``; any span for a
    new window of a ``<`` rule, or a key in ``watch_any``, whose last verdict was
    "no verdict" or an empty window): the keys an early evaluation looks at.
    """

    __slots__ = (
        "dirty",
        "errors_where",
        "exemplar_kind",
        "exemplar_sink",
        "group_by",
        "lock",
        "overflowed_spans",
        "rises",
        "rule",
        "slower_than",
        "track_bins",
        "watch_any",
        "watch_new",
        "where",
        "windows",
    )

    def __init__(self, rule: Rule) -> None:
        self.rule = rule
        self.windows: dict[tuple[str, ...], RuleWindow] = {}
        self.overflowed_spans = 0
        self.lock = threading.Lock()
        # Read once here, not per span.
        self.group_by = rule.group_by
        self.errors_where = rule.errors_where
        self.where = rule.matcher.where
        self.exemplar_kind = rule.condition.kind
        self.track_bins = rule.condition.aggregate == "quantile"
        self.slower_than = rule.bad_if_slower_than
        self.rises = rising_test(rule.condition)
        self.watch_new = new_windows_matter(rule.condition)
        # Where the exemplar span of each tally goes (the engine's ExemplarSpans, for evidence).
        self.exemplar_sink: Callable[[int, ReadableSpan], None] | None = None
        self.dirty: set[tuple[str, ...]] = set()
        self.watch_any: set[tuple[str, ...]] = set()

    def take_windows(self, old: RuleState) -> None:
        """Share ``old``'s windows and their lock (a reload of an edited rule whose windows stay
        valid): spans the engine thread still folds into ``old`` land in the same windows."""
        self.lock, self.windows = old.lock, old.windows
        self.overflowed_spans = old.overflowed_spans
        self.watch_any = set(old.windows)  # the next evaluation looks at every key anew

    def reset(self) -> None:
        """Forget every window (a fork child starts clean); a fresh lock, as the old one may be held."""
        self.lock = threading.Lock()
        self.windows = {}
        self.overflowed_spans = 0
        self.dirty = set()
        self.watch_any = set()

    def key_of(self, span: SpanView) -> tuple[str, ...]:
        group_by = self.group_by
        if not group_by:
            return ()
        if len(group_by) == 1:
            return (label_value(span.get(group_by[0])),)
        return tuple(label_value(span.get(a)) for a in group_by)

    def is_error(self, span: SpanView) -> bool:
        """Its status (or errors_where) makes ``span`` bad; alike spans share this verdict."""
        errors_where = self.errors_where
        return errors_where(span) if errors_where is not None else span.status == "error"

    def is_bad(self, span: SpanView) -> bool:
        """An error, or slower than the rule allows: the verdict of one span by itself."""
        slower_than = self.slower_than
        return self.is_error(span) or (slower_than is not None and span.duration > slower_than)

    def selects(self, span: SpanView) -> bool:
        """The rule's where: predicates (service, kind and name were matched before)."""
        return all(predicate(span) for predicate in self.where)

    def fold(
        self, key: tuple[str, ...], now: float, tally: Tally, errors: int, error_span: ReadableSpan | None
    ) -> None:
        """Add a tally to the window of ``key``; ``error_span`` is the newest error among them, if any."""
        kind = self.exemplar_kind
        if kind == "errors":
            exemplar, rank = error_span, now
        elif kind == "slowest":
            exemplar, rank = tally.slowest, tally.longest
        else:
            exemplar, rank = tally.last, now
        context = exemplar.context if exemplar is not None else None
        trace_id = context.trace_id if context is not None else 0
        sink = self.exemplar_sink
        if sink is not None and trace_id and exemplar is not None:
            sink(trace_id, exemplar)
        bins = tally.bins if self.track_bins else None
        self._add(key, now, tally.count, errors, tally.total, tally.longest, bins, rank, trace_id)

    def fold_records(self, key: tuple[str, ...], now: float, count: int, trace_id: int) -> None:
        """Add ``count`` log records (a log rule's; no status, no duration) to the window of ``key``;
        ``trace_id`` is the newest record's with a trace (0: none)."""
        self._add(key, now, count, 0, 0.0, 0.0, None, now, trace_id)

    def _add(
        self,
        key: tuple[str, ...],
        now: float,
        count: int,
        errors: int,
        total: float,
        longest: float,
        bins: Mapping[int, int] | None,
        rank: float,
        trace_id: int,
    ) -> None:
        with self.lock:
            window = self.windows.get(key)
            fresh = window is None
            if window is None:
                key, window, fresh = self._new_window(key, count)
            window.add_batch(now, count, errors, total, longest, bins, rank, trace_id)
            rises = self.rises
            if rises is not None and (
                (fresh and self.watch_new) or key in self.watch_any or rises(count, errors, longest)
            ):
                self.dirty.add(key)

    def _new_window(self, key: tuple[str, ...], count: int) -> tuple[tuple[str, ...], RuleWindow, bool]:
        """(the key the spans go to, its window, whether the window is new)."""
        if len(self.windows) >= self.rule.max_group_keys and key != OVERFLOW_KEY:
            if not self.overflowed_spans:  # said once per rule; the count is a metric from here on
                warn_seen(
                    _log,
                    "otelbundle: alert rule %r reached max_group_keys (%d): spans of new group keys "
                    "go to its otel_overflow alert (counted in otelbundle.alerting.spans.overflowed); "
                    "existing keys still alert",
                    self.rule.name,
                    self.rule.max_group_keys,
                )
            self.overflowed_spans += count
            overflow = self.windows.get(OVERFLOW_KEY)
            if overflow is not None:
                return OVERFLOW_KEY, overflow, False
            key = OVERFLOW_KEY
        make_window = self.rule.make_window
        window: RuleWindow
        if make_window is not None:
            window = make_window()
        else:
            window = Window(self.rule.window, self.track_bins, self.exemplar_kind)
        self.windows[key] = window
        return key, window, True
