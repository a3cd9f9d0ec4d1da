"""Drop accounting: counted exactly, reported once, summarised at exit."""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Sequence

import pytest
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor, SpanExporter, SpanExportResult

from otelbundle.sdk.export.bounded import Accounting, BoundedSpanProcessor
from otelbundle.sdk.export.report import (
    DropReport,
    ExportLogFold,
    metric_export_logger_names,
)
from otelbundle.sdk.export.wrapper import SPANS, ExportWrapper, count_export, span_exporter


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


def _counting(inner: SpanExporter, report: DropReport, fold: ExportLogFold | None = None) -> SpanExporter:
    """The export wrapper with only its counting, as the bounded processor builds it."""
    return span_exporter(ExportWrapper(SPANS, inner, report=report, fold=fold))


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
    _spans(_counting(inner, report), 7)
    assert report.counts["spans"].dropped == 7
    assert len(lines) == 1 and "could not export 1 spans to http://c:4318" in lines[0]
    inner.up = True
    _spans(_counting(inner, report), 3)
    assert inner.received == 3
    assert len(lines) == 2 and "recovered (7 spans dropped so far)" in lines[1]
    summary = report.summary()
    assert summary is not None and "spans=7 dropped (7 failed exports)" in summary


def test_exporter_exception_is_contained_and_counted() -> None:
    report = DropReport(emit=lambda _: None)
    _spans(_counting(Raising(), report), 2)
    assert report.counts["spans"].dropped == 2


def test_nothing_lost_means_no_summary() -> None:
    assert DropReport().summary() is None


class Blocking(SpanExporter):
    """Holds every export until released, as a collector slower than the app would."""

    def __init__(self) -> None:
        self.release = threading.Event()
        self.received = 0

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        self.release.wait(10)
        self.received += len(spans)
        return SpanExportResult.SUCCESS


def test_a_full_queue_drops_spans_counts_each_exactly_and_says_so_once(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setenv("OTEL_BSP_MAX_QUEUE_SIZE", "4")
    monkeypatch.setenv("OTEL_BSP_MAX_EXPORT_BATCH_SIZE", "2")
    lines: list[str] = []
    said_on: list[int | None] = []

    def emit(line: str) -> None:
        lines.append(line)
        said_on.append(threading.current_thread().ident)

    report = DropReport(endpoint="http://c:4318", emit=emit)
    inner = Blocking()
    processor = BoundedSpanProcessor(inner, Accounting(report))
    provider = TracerProvider()
    provider.add_span_processor(processor)
    tracer = provider.get_tracer("t")
    with caplog.at_level(logging.DEBUG, logger="opentelemetry"):
        for _ in range(50):
            with tracer.start_as_current_span("s"):
                pass
        dropped = report.counts["spans"].dropped
        inner.release.set()
        provider.shutdown()
    assert dropped >= 50 - 4 - 2 * 2, (dropped, "at most the queue plus the batches taken fit")
    assert inner.received + report.counts["spans"].dropped == 50, (inner.received, report.counts["spans"])
    assert report.counts["spans"].failed_exports == 0
    # Said once, by the export thread (never on the thread that ends the span), and
    # refusals are not export failures: no "recovered" line after each good batch.
    assert len(lines) == 1 and lines[0].endswith(
        "spans refused: the in-process queue is full (export slower than production). "
        "Further refusals are counted, not logged; a summary is printed at exit."
    ), lines
    assert threading.main_thread().ident not in said_on, "the refusal was reported on the span-ending thread"
    summary = report.summary()
    assert (
        summary is not None
        and f"spans={report.counts['spans'].dropped} dropped (0 failed exports)" in summary
    )
    sdk_lines = [r.getMessage() for r in caplog.records if r.name.startswith("opentelemetry")]
    assert sdk_lines == [], "the SDK's own queue never overflowed, so it never logged a drop"


def test_records_logged_during_a_counted_export_are_folded_and_the_verdict_is_the_reason() -> None:
    """The reason is the exporter's last error, with its first warning: the first alone
    ("Transient error 503, retrying in 0.94s") read as if the items were still being sent."""
    lines: list[str] = []
    report = DropReport(endpoint="http://c:4318", emit=lines.append)
    fold = ExportLogFold(report)
    sdk_logger = logging.getLogger("tests.fake_exporter")
    fold.attach([sdk_logger.name])
    seen: list[str] = []

    class Remember(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            seen.append(record.getMessage())

    handler = Remember()
    sdk_logger.addHandler(handler)

    class Complaining(SpanExporter):
        def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
            sdk_logger.warning("Transient error %s, retrying", 503)
            sdk_logger.error("Gave up after %d attempts", 3)
            return SpanExportResult.FAILURE

    try:
        _spans(_counting(Complaining(), report, fold=fold), 2)
        sdk_logger.warning("not during an export")
    finally:
        fold.detach()
        sdk_logger.removeHandler(handler)
    assert seen == ["not during an export"], seen
    assert report.counts["spans"].dropped == 2
    assert report.suppressed_log_lines == 4
    assert lines == [
        "otelbundle: could not export 1 spans to http://c:4318: Gave up after 3 attempts "
        "(first: Transient error 503, retrying). "
        "Further export errors are counted, not logged; a summary is printed at exit."
    ]


def test_metric_export_warnings_count_as_failed_metric_exports() -> None:
    lines: list[str] = []
    report = DropReport(endpoint="http://c:4318", emit=lines.append)
    fold = ExportLogFold(report)
    names = metric_export_logger_names({"OTEL_EXPORTER_OTLP_PROTOCOL": "http/protobuf"})
    assert "opentelemetry.exporter.otlp.proto.http.metric_exporter" in names, names
    fold.attach(names, metric_export=True)
    try:
        logging.getLogger("opentelemetry.exporter.otlp.proto.http.metric_exporter").error("Failed: %s", "x")
        logging.getLogger("opentelemetry.exporter.otlp.proto.http.metric_exporter").info("fine")
    finally:
        fold.detach()
    assert report.counts["metrics"].failed_exports == 1
    assert lines[0].startswith("otelbundle: could not export metrics to http://c:4318: Failed: x.")


def test_a_queue_smaller_than_the_batch_size_is_the_batch_size(monkeypatch: pytest.MonkeyPatch) -> None:
    """OTEL_BSP_MAX_QUEUE_SIZE=64 with the distro's batch of 128: the SDK alone refuses to start."""
    monkeypatch.setenv("OTEL_BSP_MAX_QUEUE_SIZE", "64")
    monkeypatch.setenv("OTEL_BSP_MAX_EXPORT_BATCH_SIZE", "128")
    inner = Blocking()
    inner.release.set()
    processor = BoundedSpanProcessor(inner, Accounting(DropReport()))
    provider = TracerProvider()
    provider.add_span_processor(processor)
    for _ in range(3):
        provider.get_tracer("t").start_span("s").end()
    provider.shutdown()
    assert inner.received == 3


def test_what_is_still_queued_or_being_sent_is_counted_as_not_flushed_per_signal() -> None:
    report = DropReport(endpoint="http://c:4318", emit=lambda _: None)
    report.holding("spans", lambda: 2)  # the span backlog
    report.holding("logs", lambda: 3)  # the log batch queue
    report.holding("logs", lambda: 4)  # the capture queue in front of it
    report.holding("logs", lambda: 1 // 0)  # a part that cannot say is left out, not the summary
    report.dropped("spans", 1, "gave up")
    with report.sending("spans", 5), report.sending("metrics", 0):  # retrying when the deadline ran out
        held = report.not_flushed()
    assert held == {"spans": 7, "logs": 7, "metrics": 1}
    assert report.not_flushed() == {"spans": 2, "logs": 7}  # back from the exporter: counted there
    assert report.summary(held) == (
        "otelbundle: telemetry not delivered to http://c:4318: spans=1 dropped (1 failed exports) "
        "and 7 not flushed, logs=7 not flushed, metrics: 1 export not flushed."
    )
    report.dropped("metrics", 0, "gave up")
    assert report.summary({"metrics": 2}) == (
        "otelbundle: telemetry not delivered to http://c:4318: spans=1 dropped (1 failed exports), "
        "metrics: 1 failed exports and 2 exports not flushed."
    )


def test_an_export_in_progress_at_fork_is_not_the_childs() -> None:
    report = DropReport(emit=lambda _: None)
    with report.sending("spans", 5):
        report.after_fork_in_child()
        assert report.not_flushed() == {}
    assert report.not_flushed() == {}


def test_a_metric_export_that_recovers_says_so_in_exports() -> None:
    lines: list[str] = []
    report = DropReport(endpoint="http://c:4318", emit=lines.append)
    assert count_export(report, None, "metrics", 0, lambda: False) is False
    assert count_export(report, None, "metrics", 0, lambda: True) is True
    assert lines[1] == "otelbundle: metrics export to http://c:4318 recovered (1 failed exports so far)."


def test_the_summary_can_be_read_on_a_thread_that_holds_the_report() -> None:
    """The SIGTERM handler runs on the thread it interrupts; that thread may be inside
    refused() (a full queue while the collector is down). A plain lock hung it for good."""
    report = DropReport(endpoint="http://127.0.0.1:9", emit=lambda _: None)
    report.dropped("spans", 3, "export failed")
    said: list[str | None] = []

    def interrupted_inside_the_report() -> None:
        with report._lock:  # as refused() holds it when the signal lands
            said.append(report.summary(report.not_flushed()))

    thread = threading.Thread(target=interrupted_inside_the_report, daemon=True)
    thread.start()
    thread.join(5)
    assert not thread.is_alive(), "reading the report deadlocked on its own thread"
    assert said and said[0] is not None and "spans=3 dropped" in said[0]


def test_a_forked_child_reports_its_own_losses_not_its_parents() -> None:
    lines: list[str] = []
    report = DropReport(endpoint="http://c:4318", emit=lines.append)
    report.refused("logs")
    report.dropped("spans", 3, "collector down")
    report.after_fork_in_child()
    assert report.summary() is None  # the parent's 1 log and 3 spans are in the parent's summary
    report.dropped("spans", 2, "collector down")
    assert lines[-1].startswith("otelbundle: could not export 2 spans")  # the child says its first loss
    # Which process: gunicorn's master and each worker print one at exit, alike otherwise.
    assert report.summary() == (
        f"otelbundle: telemetry not delivered to http://c:4318 (forked process {os.getpid()}): "
        "spans=2 dropped (1 failed exports)."
    )


def test_credentials_in_the_endpoint_are_never_said() -> None:
    """OTEL_EXPORTER_OTLP_ENDPOINT=https://user:TOKEN@host/?sig=TOKEN: every warning and the exit
    summary named the collector by that URL, token included."""
    said: list[str] = []
    report = DropReport(endpoint="https://user:s3cr3t@otlp.example:4318/base?sig=t0k3n#x", emit=said.append)
    report.dropped("spans", 3, "Max retries exceeded with url: /base?sig=t0k3n/v1/traces")
    report.exported("spans", 1)
    said.append(report.summary() or "")
    assert len(said) == 3
    for line in said:
        assert "s3cr3t" not in line and "t0k3n" not in line, line
        assert "https://***@otlp.example:4318/base?***" in line, line
    assert DropReport(endpoint="http://127.0.0.1:4318").endpoint == "http://127.0.0.1:4318"


def test_a_signal_sent_elsewhere_is_reported_where_it_went() -> None:
    lines: list[str] = []
    report = DropReport(
        endpoint="http://c:4318",
        endpoints={"spans": "http://c:4318", "logs": "https://u:Secret9@logs:443/v1/logs"},
        emit=lines.append,
    )
    report.dropped("logs", 2, "Transient error https://logs:443 answered for u:Secret9")
    report.exported("logs", 1)
    report.dropped("spans", 3, "refused")
    assert lines == [
        "otelbundle: could not export 2 logs to https://***@logs:443/v1/logs: Transient error "
        "https://logs:443 answered for ***. Further export errors are counted, not logged; a summary "
        "is printed at exit.",
        "otelbundle: logs export to https://***@logs:443/v1/logs recovered (2 logs dropped so far).",
        "otelbundle: could not export 3 spans to http://c:4318: refused.",
    ]
    assert report.summary() == (
        "otelbundle: telemetry not delivered: spans=3 dropped (1 failed exports) to http://c:4318, "
        "logs=2 dropped (1 failed exports) to https://***@logs:443/v1/logs."
    )


def test_signals_lost_on_their_way_to_one_place_name_it_once() -> None:
    report = DropReport(
        endpoint="http://c:4318", endpoints={"logs": "http://other:4318"}, emit=lambda _: None
    )
    report.dropped("spans", 1, "x")
    report.dropped("metrics", 0, "y")
    assert report.summary() == (
        "otelbundle: telemetry not delivered to http://c:4318: spans=1 dropped (1 failed exports), "
        "metrics: 1 failed exports."
    )
