"""What evidence needs of the spans behind recent exemplars, by trace id.

A window keeps only the trace ids of its best exemplars (window.py). Here, for the
last ``MAX_TRACES`` traces offered, up to ``SPANS_PER_TRACE`` of their exemplar
spans are remembered as :class:`SpanFacts`: name, route, span id, error status
and the exception event, the strings shared with the span, not copied. The span
itself is not held: keeping finished spans alive cost every span of the process
about a microsecond (they outlived their batch and aged into older GC
generations; measured with bench_alerting). ``offer`` runs on the engine thread
once per tally folded into a window (RuleState.fold), not once per span; it also
pins the trace's ring of log lines (trace_logs.py), so lines logged before the
span ended stay quotable after the ring has moved on to newer traces.
"""

from __future__ import annotations

from collections import OrderedDict, deque
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, NamedTuple

from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.trace import StatusCode

from otelbundle.alerting.trace_logs import LogLine, TraceLogs
from otelbundle.sdk.attributes import plain_attributes

MAX_TRACES = 256
SPANS_PER_TRACE = 4
_ERROR = StatusCode.ERROR


class SpanFacts(NamedTuple):
    span_id: int
    name: str
    route: str
    error: bool
    exception_type: str  # "" when the span has no exception event
    exception_message: str
    db_system: str = ""  # a span named by its SQL statement loses the literals, as exported


def _db_system(attributes: Mapping[str, object]) -> str:
    system = attributes.get("db.system.name", attributes.get("db.system"))
    return system if isinstance(system, str) else ""


def facts_of(span: ReadableSpan) -> SpanFacts:
    exception_type = exception_message = ""
    for event in reversed(span.events):
        if event.name == "exception":
            attributes = event.attributes or {}
            exception_type = str(attributes.get("exception.type") or "")
            exception_message = str(attributes.get("exception.message") or "")
            break
    context = span.context
    span_attributes = plain_attributes(span.attributes)
    return SpanFacts(
        context.span_id if context is not None else 0,
        span.name,
        str(span_attributes.get("http.route") or ""),
        span.status.status_code is _ERROR,
        exception_type,
        exception_message,
        _db_system(span_attributes),
    )


@dataclass
class TraceExemplars:
    spans: list[SpanFacts]
    logs: deque[LogLine] | None


class ExemplarSpans:
    """Written and read on the engine thread. Each entry is a list ``[log ring or None, facts, ...]``
    (not an object: ``offer`` runs once per tally folded, so it stays a few C-level operations
    when the span was offered before)."""

    def __init__(self, trace_logs: TraceLogs, max_traces: int = MAX_TRACES) -> None:
        self.trace_logs = trace_logs
        self.max_traces = max(1, max_traces)
        self._traces: OrderedDict[int, list[Any]] = OrderedDict()

    def offer(self, trace_id: int, span: ReadableSpan) -> None:
        traces = self._traces
        entry = traces.get(trace_id)
        if entry is None:
            if len(traces) >= self.max_traces:
                traces.popitem(last=False)
            traces[trace_id] = [self.trace_logs.lines(trace_id), facts_of(span)]
            return
        traces.move_to_end(trace_id)
        context = span.context
        span_id = context.span_id if context is not None else 0
        if any(facts.span_id == span_id for facts in entry[1:]):
            return
        entry.append(facts_of(span))
        if len(entry) > SPANS_PER_TRACE + 1:
            del entry[1]

    def get(self, trace_id: int) -> TraceExemplars | None:
        """The trace's span facts and log lines (lines logged after the offer included)."""
        entry = self._traces.get(trace_id)
        if entry is None:
            return None
        if entry[0] is None:
            entry[0] = self.trace_logs.lines(trace_id)
        return TraceExemplars(list(entry[1:]), entry[0])

    def __len__(self) -> int:
        return len(self._traces)

    def clear(self) -> None:
        self._traces.clear()
