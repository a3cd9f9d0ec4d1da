"""The last few log lines of each recent trace seen in this process: what alert evidence quotes.

A consumer of the :class:`~otelbundle.alerting.log_intake.LogIntake`, fed on
the alert manager's thread. Bounded twice: at most ``MAX_TRACES`` traces (the
least recently logged one goes first) and ``LINES_PER_TRACE`` lines each (the
oldest line goes first), every text cut to ``MAX_TEXT`` characters at a space
and before a quoted string the cut would leave open, so no secret is kept in part
(a quoted secret may hold spaces, and the scrubber knows it by its closing quote). Nothing here is exported; the lines are kept as
the application logged them and are scrubbed when an alert quotes them
(evidence.py), before it cuts them to what a notification shows: a token cut
in two before scrubbing no longer has the shape its rule looks for.

Records of otelbundle's own loggers are left out: the alert's own transition
record is logged inside its exemplar trace and would quote itself.
"""

from __future__ import annotations

from collections import OrderedDict, deque
from collections.abc import Sequence
from typing import NamedTuple

from opentelemetry._logs import LogRecord

from otelbundle.alerting.log_intake import LogRecordItem
from otelbundle.sdk.attributes import plain_attributes

MAX_TRACES = 256
LINES_PER_TRACE = 8
MAX_TEXT = 2000  # kept; a notification shows at most evidence.MAX_TEXT of it, scrubbed
OWN_LOGGERS = "otelbundle"


class LogLine(NamedTuple):
    """One log record of a trace, reduced to what a notification shows.

    A named tuple, not a frozen dataclass: one is made for every record logged inside a
    trace while alert rules run, on the manager's thread, and a frozen dataclass sets
    each of its seven fields through ``object.__setattr__`` (0.7 µs a line, half the cost).
    """

    timestamp_ns: int
    severity: str
    logger: str
    body: str
    span_id: int
    exception_type: str = ""
    exception_message: str = ""


def _text(value: object) -> str:
    text = value if type(value) is str else "" if value is None else str(value)
    return text if len(text) <= MAX_TEXT else cut_unscrubbed(text, MAX_TEXT)


def cut_unscrubbed(text: str, limit: int) -> str:
    """:func:`cut_at_space` for text not yet scrubbed: also cut before a quote the kept part
    leaves open. ``{'password': 'correct horse battery'}`` cut after ``horse`` was no longer
    a quoted value the scrubber recognises, and ``'correct horse`` went out. An apostrophe
    in prose cuts a little more than needed; the text was too long to keep whole anyway."""
    kept = cut_at_space(text, limit)[:-1]  # without its "…"
    while True:
        open_quotes = [kept.rfind(quote) for quote in ("'", '"') if kept.count(quote) % 2]
        if not open_quotes:
            return kept + "…"
        kept = kept[: max(open_quotes)]


def cut_at_space(text: str, limit: int) -> str:
    """``text`` cut to at most ``limit`` characters, ending with "…", at the last whitespace
    before the limit: a token or URL at the cut is left out whole, never kept in part."""
    cut = text[: limit - 1]
    space = max(cut.rfind(" "), cut.rfind("\n"), cut.rfind("\t"))
    return (cut[:space] if space > 0 else "") + "…"


def line_of(item: LogRecordItem) -> tuple[int, LogLine] | None:
    """(trace id, line) of a record that belongs to a trace and not to otelbundle; else None."""
    record = item.log_record
    trace_id = record.trace_id
    if not trace_id:
        return None
    scope = item.instrumentation_scope.name if item.instrumentation_scope is not None else ""
    if scope == OWN_LOGGERS or scope.startswith(OWN_LOGGERS + "."):
        return None
    return trace_id, _line(record, scope)


def record_line(item: LogRecordItem) -> LogLine:
    """Any record as a line (a log rule's evidence quotes records outside traces too)."""
    scope = item.instrumentation_scope.name if item.instrumentation_scope is not None else ""
    return _line(item.log_record, scope)


def _line(record: LogRecord, scope: str) -> LogLine:
    exception_type = exception_message = ""
    attributes = record.attributes
    if attributes:
        # A dict copy (one C call) for the lookups: get() on the SDK's mapping raises and
        # catches a KeyError for each attribute a record lacks (most have no exception).
        found = plain_attributes(attributes)
        exception_type = _text(found.get("exception.type") or "")
        exception_message = _text(found.get("exception.message") or "")
    return LogLine(
        record.timestamp or record.observed_timestamp or 0,
        record.severity_text or "",
        scope,
        _text(record.body),
        record.span_id or 0,
        exception_type,
        exception_message,
    )


class TraceLogs:
    """Per trace id, its last LINES_PER_TRACE lines; written and read on the manager's thread."""

    def __init__(self, max_traces: int = MAX_TRACES, lines_per_trace: int = LINES_PER_TRACE) -> None:
        self.max_traces = max(1, max_traces)
        self.lines_per_trace = max(1, lines_per_trace)
        self._traces: OrderedDict[int, deque[LogLine]] = OrderedDict()
        self.traces_evicted = 0

    def take(self, records: Sequence[LogRecordItem], now: float) -> None:
        for item in records:
            found = line_of(item)
            if found is not None:
                self.add(*found)

    def add(self, trace_id: int, line: LogLine) -> None:
        """One line of ``trace_id`` (``rules test`` adds its test lines here directly)."""
        traces = self._traces
        lines = traces.get(trace_id)
        if lines is None:
            if len(traces) >= self.max_traces:
                traces.popitem(last=False)
                self.traces_evicted += 1
            lines = traces[trace_id] = deque(maxlen=self.lines_per_trace)
        else:
            traces.move_to_end(trace_id)
        lines.append(line)

    def lines(self, trace_id: int) -> deque[LogLine] | None:
        """The live ring of ``trace_id`` (it keeps filling), or None when none is kept."""
        return self._traces.get(trace_id)

    def __len__(self) -> int:
        return len(self._traces)

    def clear(self) -> None:
        self._traces.clear()
