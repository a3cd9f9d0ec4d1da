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
from dataclasses import dataclass, field

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


@dataclass
class RuleState:
    """One rule's windows, keyed by group-by values; capped at ``rule.max_group_keys``."""

    rule: Rule
    windows: dict[tuple[str, ...], Window] = field(default_factory=dict)
    overflowed_spans: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)

    def add(self, span: SpanView, now: float) -> None:
        rule = self.rule
        key = rule.group_key(span) if rule.group_by else ()
        error = rule.is_error(span)
        kind = rule.condition.kind
        exemplar_key = (
            (1.0 if error else 0.0) if kind == "errors" else span.duration if kind == "slowest" else now
        )
        if kind == "errors" and not error:
            exemplar_key = -1.0  # a non-error span is a worse exemplar than any error
        with self.lock:
            window = self.windows.get(key)
            if window is None:
                if len(self.windows) >= rule.max_group_keys and key != OVERFLOW_KEY:
                    self.overflowed_spans += 1
                    key = OVERFLOW_KEY
                    window = self.windows.get(key)
                if window is None:
                    window = self.windows[key] = Window(rule.window)
            window.add(now, span.duration, error, span.trace_id, exemplar_key)


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
        trace_id=format(span.context.trace_id, "032x") if span.context is not None else "",
    )


class RuleIndex:
    """Candidate rules for a span by (service, name); rules without an exact service/name go in a
    short fallback list that every span checks."""

    def __init__(self, states: Iterable[RuleState]) -> None:
        self.by_service_name: dict[tuple[str, str], list[RuleState]] = {}
        self.by_service: dict[str, list[RuleState]] = {}
        self.fallback: list[RuleState] = []
        for state in states:
            matcher = state.rule.matcher
            if matcher.service_is_exact and matcher.name is not None:
                self.by_service_name.setdefault((str(matcher.service), matcher.name), []).append(state)
            elif matcher.service_is_exact:
                self.by_service.setdefault(str(matcher.service), []).append(state)
            else:
                self.fallback.append(state)

    def candidates(self, service: str, name: str) -> Iterable[RuleState]:
        exact = self.by_service_name.get((service, name))
        by_service = self.by_service.get(service)
        if exact is None and by_service is None:
            return self.fallback
        return [*(exact or ()), *(by_service or ()), *self.fallback]


class AlertingSpanProcessor(SpanProcessor):
    """Installed through the SDK configurator's ``span_processors=`` argument."""

    def __init__(self, states: Iterable[RuleState], clock: Callable[[], float] = time.time) -> None:
        self._index = RuleIndex(states)
        self._clock = clock
        self.spans_seen = 0
        self.spans_matched = 0
        self.errors = 0

    def replace_rules(self, states: Iterable[RuleState]) -> None:
        """Swap in a new rule set (reload); one reference assignment, safe against concurrent on_end."""
        self._index = RuleIndex(states)

    def on_start(self, span: object, parent_context: object = None) -> None:
        return None

    def on_end(self, span: ReadableSpan) -> None:
        try:
            self.spans_seen += 1
            index = self._index
            resource = span.resource.attributes if span.resource is not None else {}
            candidates = index.candidates(str(resource.get("service.name", "")), span.name)
            if not candidates:
                return
            view: SpanView | None = None
            now = self._clock()
            for state in candidates:
                if view is None:
                    view = span_view(span)
                if state.rule.matcher.matches(view):
                    self.spans_matched += 1
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
