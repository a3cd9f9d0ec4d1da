"""AlertingSpanProcessor: feeds every finished span into the windows of the rules it matches.

``on_end`` runs on the application's thread, so it does a dictionary lookup
for candidate rules (pre-indexed by service, kind and name at load time), a
few comparisons, and one short locked bucket update per matching rule. No I/O,
no allocation per rule it does not match, and no exception ever leaves it.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterable

from opentelemetry.sdk.trace import ReadableSpan, SpanProcessor
from opentelemetry.trace import SpanKind, StatusCode

from otelbundle.alerting.predicates import SpanView
from otelbundle.alerting.rules import OVERFLOW_KEY, Rule
from otelbundle.alerting.window import Window

_log = logging.getLogger("otelbundle.alerting")
_KINDS = {
    SpanKind.SERVER: "server",
    SpanKind.CLIENT: "client",
    SpanKind.INTERNAL: "internal",
    SpanKind.PRODUCER: "producer",
    SpanKind.CONSUMER: "consumer",
}
_STATUS = {StatusCode.OK: "ok", StatusCode.ERROR: "error", StatusCode.UNSET: "unset"}


class RuleState:
    """One rule's windows, keyed by group-by values; capped at ``rule.max_group_keys``."""

    __slots__ = (
        "_errors_where",
        "_group_by",
        "_kind",
        "_track_bins",
        "lock",
        "overflowed_spans",
        "rule",
        "windows",
    )

    def __init__(self, rule: Rule) -> None:
        self.rule = rule
        self.windows: dict[tuple[str, ...], Window] = {}
        self.overflowed_spans = 0
        self.lock = threading.Lock()
        # Read once here, not per span.
        self._group_by = rule.group_by
        self._errors_where = rule.errors_where
        self._kind = rule.condition.kind
        self._track_bins = rule.condition.aggregate == "quantile"

    def add(self, span: SpanView, now: float) -> None:
        group_by = self._group_by
        if not group_by:
            key: tuple[str, ...] = ()
        elif len(group_by) == 1:
            key = (str(span.get(group_by[0]) or ""),)
        else:
            key = tuple(str(span.get(a) or "") for a in group_by)
        errors_where = self._errors_where
        error = errors_where(span) if errors_where is not None else span.status == "error"
        with self.lock:
            window = self.windows.get(key)
            if window is None:
                window = self._new_window(key)
            window.add(now, span.duration, error, span.trace_id)

    def _new_window(self, key: tuple[str, ...]) -> Window:
        if len(self.windows) >= self.rule.max_group_keys and key != OVERFLOW_KEY:
            self.overflowed_spans += 1
            window = self.windows.get(OVERFLOW_KEY)
            if window is not None:
                return window
            key = OVERFLOW_KEY
        window = self.windows[key] = Window(self.rule.window, self._track_bins, self._kind)
        return window


def span_view(span: ReadableSpan) -> SpanView:
    start, end = span.start_time or 0, span.end_time or 0
    resource = span.resource.attributes if span.resource is not None else {}
    return SpanView(
        name=span.name,
        kind=_KINDS.get(span.kind, "internal"),
        status=_STATUS.get(span.status.status_code, "unset"),
        duration=max(0, end - start) / 1e9,
        attributes=span.attributes or {},
        resource=resource,
        trace_id=span.context.trace_id if span.context is not None else 0,
    )


class RuleIndex:
    """Which rules a span can match, decided once per (service, name, kind) and cached.

    The static part of a matcher (service glob, kind, name, name_regex) depends
    only on those three values, so the per-span work is one dictionary lookup;
    only ``where:`` predicates run per span. The cache is bounded: past
    ``CACHE_LIMIT`` distinct triples (e.g. span names with ids in them) the
    static checks run per span instead.
    """

    CACHE_LIMIT = 10_000

    def __init__(self, states: Iterable[RuleState]) -> None:
        self.states = list(states)
        self._cache: dict[tuple[str, str, str], tuple[tuple[RuleState, ...], tuple[RuleState, ...]]] = {}

    def candidates(
        self, service: str, name: str, kind: str
    ) -> tuple[tuple[RuleState, ...], tuple[RuleState, ...]]:
        """(rules that match on these alone, rules that also need their where: predicates)."""
        key = (service, name, kind)
        found = self._cache.get(key)
        if found is not None:
            return found
        probe = SpanView(name, kind, "unset", 0.0, {}, {"service.name": service})
        static = [s for s in self.states if s.rule.matcher.matches_static(probe)]
        found = (
            tuple(s for s in static if not s.rule.matcher.where),
            tuple(s for s in static if s.rule.matcher.where),
        )
        if len(self._cache) < self.CACHE_LIMIT:
            self._cache[key] = found
        return found


class AlertingSpanProcessor(SpanProcessor):
    """Installed through the SDK configurator's ``span_processors=`` argument."""

    def __init__(self, states: Iterable[RuleState], clock: Callable[[], float] = time.time) -> None:
        self._index = RuleIndex(states)
        self._clock = clock
        self.spans_seen = 0
        self.errors = 0

    def replace_rules(self, states: Iterable[RuleState]) -> None:
        """Swap in a new rule set (reload); one reference assignment, safe against concurrent on_end."""
        self._index = RuleIndex(states)

    def on_start(self, span: object, parent_context: object = None) -> None:
        return None

    def on_end(self, span: ReadableSpan) -> None:
        try:
            self.spans_seen += 1
            resource = span.resource.attributes if span.resource is not None else {}
            always, conditional = self._index.candidates(
                str(resource.get("service.name", "")), span.name, _KINDS.get(span.kind, "internal")
            )
            if not always and not conditional:
                return
            view = span_view(span)
            now = self._clock()
            for state in always:
                state.add(view, now)
            for state in conditional:
                if all(predicate(view) for predicate in state.rule.matcher.where):
                    state.add(view, now)
        except Exception:  # the application must never see our failure
            self.errors += 1
            if self.errors == 1:
                _log.warning(
                    "otelbundle: alert rule evaluation of a span failed; counting further failures",
                    exc_info=True,
                )

    def shutdown(self) -> None:
        return None

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        return True
