"""Drop accounting: counted exactly, reported once, summarised at exit."""

from __future__ import annotations

import logging
from collections.abc import Sequence

from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor, SpanExporter, SpanExportResult

from otelbundle.exporting import CountingSpanExporter, DropReport, ExportLogFilter


class FlakyExporter(SpanExporter):
    def __init__(self) -> None:
        self.up = False
        self.received = 0

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        if not self.up:
            return SpanExportResult.FAILURE
        self.received += len(spans)
        return SpanExportResult.SUCCESS


class Raising(SpanExporter):
    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        raise ConnectionError("boom")


def _spans(exporter: SpanExporter, count: int) -> None:
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    tracer = provider.get_tracer("t")
    for _ in range(count):
        with tracer.start_as_current_span("s"):
            pass


def test_failed_batches_counted_and_reported_once_then_recovery() -> None:
    lines: list[str] = []
    report = DropReport(endpoint="http://c:4318", emit=lines.append)
    inner = FlakyExporter()
    _spans(CountingSpanExporter(inner, report), 7)
    assert report.counts["spans"].dropped == 7
    assert len(lines) == 1 and "could not export 1 spans to http://c:4318" in lines[0]
    inner.up = True
    _spans(CountingSpanExporter(inner, report), 3)
    assert inner.received == 3
    assert len(lines) == 2 and "recovered (7 spans dropped so far)" in lines[1]
    summary = report.summary()
    assert summary is not None and "spans=7 dropped (7 failed exports)" in summary


def test_exporter_exception_is_contained_and_counted() -> None:
    report = DropReport(emit=lambda _: None)
    _spans(CountingSpanExporter(Raising(), report), 2)
    assert report.counts["spans"].dropped == 2


def test_nothing_lost_means_no_summary() -> None:
    assert DropReport().summary() is None


def test_log_filter_turns_sdk_lines_into_counts() -> None:
    lines: list[str] = []
    report = DropReport(emit=lines.append)
    export_filter = ExportLogFilter(report)

    def record(level: int, msg: str) -> logging.LogRecord:
        return logging.LogRecord("opentelemetry.sdk._shared_internal", level, __file__, 1, msg, None, None)

    assert export_filter.filter(record(logging.WARNING, "Queue full, dropping Span.")) is False
    assert export_filter.filter(record(logging.WARNING, "Queue full, dropping Span.")) is False
    assert report.counts["spans"].dropped == 2
    assert len(lines) == 1
    assert (
        export_filter.filter(record(logging.ERROR, "Failed to export metrics to x, error code: 14")) is False
    )
    assert report.counts["metrics"].failed_exports == 1
    assert (
        export_filter.filter(record(logging.WARNING, "Transient error 503 encountered while exporting"))
        is False
    )
    assert report.suppressed_log_lines == 1
    assert export_filter.filter(record(logging.WARNING, "something unrelated")) is True
    assert export_filter.filter(record(logging.DEBUG, "Queue full")) is True
