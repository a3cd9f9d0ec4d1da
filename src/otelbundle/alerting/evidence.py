"""What failed, in the notification: evidence read from an alert's exemplar spans and their traces' logs.

A log rule's alert quotes its own newest matching records instead
(:func:`build_record_evidence`), whether or not a span rule saw their traces.

For each of a span rule's exemplar traces (best first, at most ``MAX_EVIDENCE``):
the span's name and ``http.route``; the exception, from the span's ``exception``
event or else from a ``logger.exception`` record of that span (or of its trace)
seen by the log intake; the trace link (``generator_url`` rendered for that
trace); and the last ``LOG_LINES`` log lines of the trace seen in this process.

Every text is made :func:`~otelbundle.alerting.printable.printable` (valid UTF-8, no colour
codes or control characters), then passes through the scrubber (otelbundle.scrub's rules, the same the
exporters apply) before it is put into an :class:`Evidence`: nothing here
reaches a channel unscrubbed. Without a scrubber (a program that starts the
rules itself without one) the free texts, messages, log lines, span names and
routes, are left out and only the exception type and the link remain.
Channels render it for their medium, each escaping as it does for annotations.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from datetime import datetime, timezone
from typing import Any, Protocol

from otelbundle.alerting.alert import Evidence
from otelbundle.alerting.exemplar_spans import ExemplarSpans, SpanFacts
from otelbundle.alerting.printable import printable
from otelbundle.alerting.trace_logs import LogLine, cut_at_space

MAX_EVIDENCE = 3
LOG_LINES = 5
MAX_TEXT = 500


class TextScrubber(Protocol):
    """What evidence needs of :class:`otelbundle.scrub.Scrubber` (injected: alerting does not import scrub)."""

    def text(self, value: str, where: str = "") -> str: ...

    def span_name(self, name: str, attributes: Mapping[str, Any] | None) -> str: ...


def build_evidence(
    trace_ids: Sequence[str],
    exemplars: ExemplarSpans,
    link: Callable[[str], str],
    scrubber: TextScrubber | None,
) -> tuple[Evidence, ...]:
    """Evidence for the first MAX_EVIDENCE of ``trace_ids`` (hex) whose spans are still held."""
    found: list[Evidence] = []
    for trace_id in trace_ids[:MAX_EVIDENCE]:
        try:
            entry = exemplars.get(int(trace_id, 16))
        except ValueError:
            continue
        if entry is None or not entry.spans:
            continue
        span = most_telling(entry.spans)
        lines = list(entry.logs or ())
        exception_type, exception_message = _exception_of(span, lines)
        if scrubber is None:  # no free text without a scrubber
            found.append(
                Evidence(trace_id, exception_type=_cut(printable(exception_type)), trace_url=link(trace_id))
            )
            continue

        def text(value: str, where: str, scrub: Callable[[str, str], str] = scrubber.text) -> str:
            """Each value on its own, made printable, as the exporters scrub it, then cut: cut
            first, a token split in two would no longer have the shape its rule looks for."""
            return _cut(scrub(printable(value), where))

        db = {"db.system": span.db_system} if span.db_system else None
        found.append(
            Evidence(
                trace_id=trace_id,
                span_name=_cut(scrubber.span_name(printable(span.name), db)),
                route=text(span.route, "http.route"),
                exception_type=text(exception_type, "exception.type"),
                exception_message=text(exception_message, "exception.message"),
                trace_url=link(trace_id),
                log_lines=tuple(_format(line, text) for line in lines[-LOG_LINES:]),
            )
        )
    return tuple(found)


def build_record_evidence(
    records: Sequence[tuple[int, LogLine]],
    exemplars: ExemplarSpans,
    link: Callable[[str], str],
    scrubber: TextScrubber | None,
) -> tuple[Evidence, ...]:
    """Evidence of a log rule from its own newest matching ``records`` (oldest first), newest
    first: the record's exception, logger and, when it was logged in a trace, the trace link,
    the last LOG_LINES lines of that trace (the record among them) and its span when a span
    rule saw it. A record outside any trace is quoted by itself; of several records of one
    trace, the newest (the trace's lines quote the others)."""
    found: list[Evidence] = []
    seen: set[int] = set()
    for trace_id, record in reversed(records):
        if len(found) == MAX_EVIDENCE or (trace_id and trace_id in seen):
            continue
        seen.add(trace_id)
        hex_id = format(trace_id, "032x") if trace_id else ""
        ring = exemplars.trace_logs.lines(trace_id) if trace_id else None
        lines = _with_record(list(ring or ()), record)
        exception_type, exception_message = record.exception_type, record.exception_message
        url = link(hex_id) if hex_id else ""
        if scrubber is None:  # no free text without a scrubber
            found.append(Evidence(hex_id, exception_type=_cut(printable(exception_type)), trace_url=url))
            continue

        def text(value: str, where: str, scrub: Callable[[str, str], str] = scrubber.text) -> str:
            return _cut(scrub(printable(value), where))

        entry = exemplars.get(trace_id) if trace_id else None
        span = most_telling(entry.spans) if entry is not None and entry.spans else None
        db = {"db.system": span.db_system} if span is not None and span.db_system else None
        found.append(
            Evidence(
                trace_id=hex_id,
                span_name=_cut(scrubber.span_name(printable(span.name), db)) if span is not None else "",
                route=text(span.route, "http.route") if span is not None else "",
                exception_type=text(exception_type, "exception.type"),
                exception_message=text(exception_message, "exception.message"),
                trace_url=url,
                log_lines=tuple(_format(line, text) for line in lines),
                logger=text(record.logger, "log.logger"),
            )
        )
    return tuple(found)


def _with_record(lines: list[LogLine], record: LogLine) -> list[LogLine]:
    """The last LOG_LINES of a trace's ``lines``, ``record`` always among them (first, when
    the trace logged more than LOG_LINES lines after it)."""
    tail = lines[-LOG_LINES:]
    if record in tail:
        return tail
    return [record, *lines[-(LOG_LINES - 1) :]] if LOG_LINES > 1 else [record]


def most_telling(spans: Sequence[SpanFacts]) -> SpanFacts:
    """A span with an exception event, else an error, else the newest."""
    for span in reversed(spans):
        if span.exception_type or span.exception_message:
            return span
    for span in reversed(spans):
        if span.error:
            return span
    return spans[-1]


def _exception_of(span: SpanFacts, lines: Sequence[LogLine]) -> tuple[str, str]:
    """(type, message): the span's last exception event; else the record with an exception
    logged in that span; else any of its trace."""
    if span.exception_type or span.exception_message:
        return span.exception_type, span.exception_message
    with_exception = [line for line in lines if line.exception_type or line.exception_message]
    for line in reversed(with_exception):
        if line.span_id == span.span_id:
            return line.exception_type, line.exception_message
    if with_exception:
        return with_exception[-1].exception_type, with_exception[-1].exception_message
    return "", ""


def _cut(value: object) -> str:
    text = "" if value is None else str(value)
    return text if len(text) <= MAX_TEXT else cut_at_space(text, MAX_TEXT)


def _format(line: LogLine, scrub: Callable[[str, str], str]) -> str:
    when = datetime.fromtimestamp(line.timestamp_ns / 1e9, tz=timezone.utc).strftime("%H:%M:%S.%f")[:-3]
    body = scrub(line.body, "log.body")
    severity = printable(line.severity)[:20] or "-"
    text = f"{when}Z {severity} {scrub(line.logger, 'log.logger')}: {body}"
    if line.exception_type and line.exception_type not in body:
        text += f" ({scrub(line.exception_type, 'exception.type')})"
    return text
