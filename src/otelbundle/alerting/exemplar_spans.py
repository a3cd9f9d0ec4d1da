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
from typing import Any

from opentelemetry.sdk.trace import ReadableSpan

from otelbundle.alerting.trace_logs import LogLine, TraceLogs

MAX_TRACES = 256
SPANS_PER_TRACE = 4


@dataclass
class TraceExemplars:
    spans: list[ReadableSpan] = field(default_factory=list)
    logs: deque[LogLine] | None = None


class ExemplarSpans:
    """Written and read on the engine thread. Each entry is a list ``[log ring or None, span, ...]``
    (not an object: ``offer`` runs once per tally folded, so it stays a few C-level operations)."""

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
            traces[trace_id] = [self.trace_logs.lines(trace_id), span]
            return
        traces.move_to_end(trace_id)
        if entry[-1] is not span and span not in entry:
            entry.append(span)
            if len(entry) > SPANS_PER_TRACE + 1:
                del entry[1]

    def get(self, trace_id: int) -> TraceExemplars | None:
        """The trace's spans and log lines (lines logged after the offer included)."""
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
