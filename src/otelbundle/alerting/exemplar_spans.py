"""The spans behind recent exemplars, by trace id: what an alert's evidence is read from.

A window keeps only the trace ids of its best exemplars (window.py); the spans
themselves are held here, for the last ``MAX_TRACES`` traces offered (up to
``SPANS_PER_TRACE`` spans each, the newest kept), so that a notification can say
what failed. ``offer`` runs on the engine thread once per tally folded into a
window (RuleState.fold), not once per span; it pins the trace's ring of log
lines as well (trace_logs.py), so lines logged before the span ended stay
quotable after the ring has moved on to newer traces. Nothing is copied: the
spans are the SDK's finished spans, which are immutable.
"""

from __future__ import annotations

from collections import OrderedDict, deque
from dataclasses import dataclass, field

from opentelemetry.sdk.trace import ReadableSpan

from otelbundle.alerting.trace_logs import LogLine, TraceLogs

MAX_TRACES = 256
SPANS_PER_TRACE = 4


@dataclass
class TraceExemplars:
    spans: list[ReadableSpan] = field(default_factory=list)
    logs: deque[LogLine] | None = None


class ExemplarSpans:
    """Written and read on the engine thread."""

    def __init__(self, trace_logs: TraceLogs, max_traces: int = MAX_TRACES) -> None:
        self.trace_logs = trace_logs
        self.max_traces = max(1, max_traces)
        self._traces: OrderedDict[int, TraceExemplars] = OrderedDict()

    def offer(self, trace_id: int, span: ReadableSpan) -> None:
        traces = self._traces
        entry = traces.get(trace_id)
        if entry is None:
            if len(traces) >= self.max_traces:
                traces.popitem(last=False)
            entry = traces[trace_id] = TraceExemplars()
        else:
            traces.move_to_end(trace_id)
        spans = entry.spans
        if not any(known is span for known in spans):
            spans.append(span)
            if len(spans) > SPANS_PER_TRACE:
                del spans[0]
        if entry.logs is None:
            entry.logs = self.trace_logs.lines(trace_id)

    def get(self, trace_id: int) -> TraceExemplars | None:
        """The trace's spans and log lines (lines logged after the offer included)."""
        entry = self._traces.get(trace_id)
        if entry is not None and entry.logs is None:
            entry.logs = self.trace_logs.lines(trace_id)
        return entry

    def __len__(self) -> int:
        return len(self._traces)

    def clear(self) -> None:
        self._traces.clear()
