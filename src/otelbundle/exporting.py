"""Counting what could not be exported, and saying so once instead of per batch.

With the collector down the SDK logs a warning or a traceback for every failed
batch and a "Queue full" line for every dropped span. That floods the app's
own logs exactly when someone is reading them. Here:

* span and log exporters are wrapped (through the configurator's supported
  ``export_span_processor`` / ``export_log_record_processor`` arguments) so
  every item in a failed batch is counted;
* a :class:`logging.Filter` on the SDK's exporter and batch-processor loggers
  turns their per-batch messages into counts;
* :class:`DropReport` prints one warning on the first loss (saying what, where,
  and why), one line when export recovers, and a summary at exit.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from opentelemetry.sdk._logs import ReadableLogRecord
from opentelemetry.sdk._logs.export import LogRecordExporter, LogRecordExportResult
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export import SpanExporter, SpanExportResult


def diagnostics_logger() -> logging.Logger:
    """Where otelbundle reports on itself (bad settings, delivery problems): stderr only.

    These messages must be seen before the app configures logging, and must not
    enter the OTLP log pipeline: a warning that logs could not be exported must
    not itself be queued for export (the SDK then reports recursive logging).
    A separate logger, so the ``otelbundle`` logger and its children propagate
    normally.
    """
    logger = logging.getLogger("otelbundle_diagnostics")
    if not logger.handlers:
        handler = logging.StreamHandler()
        handler.setFormatter(logging.Formatter("%(levelname)s %(message)s"))
        logger.addHandler(handler)
        logger.propagate = False
    return logger


def _warn(message: str) -> None:
    diagnostics_logger().warning("%s", message)


# Loggers whose per-batch messages we fold into counts. Logger filters apply
# only to the logger that created the record, so each one is named.
EXPORTER_LOGGERS = (
    "opentelemetry.exporter.otlp.proto.grpc.exporter",
    "opentelemetry.exporter.otlp.proto.http.trace_exporter",
    "opentelemetry.exporter.otlp.proto.http._log_exporter",
    "opentelemetry.exporter.otlp.proto.http.metric_exporter",
    "opentelemetry.exporter.otlp.proto.http",
    "opentelemetry.sdk._shared_internal",
    "opentelemetry.sdk.metrics._internal.export",
)


@dataclass
class SignalCounts:
    exported: int = 0
    dropped: int = 0
    failed_exports: int = 0


@dataclass
class DropReport:
    """Thread-safe drop counters for spans, logs and metrics, reported sparingly."""

    endpoint: str = ""
    counts: dict[str, SignalCounts] = field(
        default_factory=lambda: {s: SignalCounts() for s in ("spans", "logs", "metrics")}
    )
    suppressed_log_lines: int = 0
    _failing: set[str] = field(default_factory=set)
    _warned: bool = False
    _lock: threading.Lock = field(default_factory=threading.Lock)
    emit: Callable[[str], None] = field(default=_warn)

    def exported(self, signal: str, items: int) -> None:
        with self._lock:
            self.counts[signal].exported += items
            recovered = signal in self._failing
            self._failing.discard(signal)
            dropped = self.counts[signal].dropped
        if recovered:
            self.emit(
                f"otelbundle: {signal} export to {self.endpoint} recovered ({dropped} {signal} dropped so far)."
            )

    def dropped(self, signal: str, items: int, reason: str, *, failed_export: bool = True) -> None:
        with self._lock:
            counts = self.counts[signal]
            counts.dropped += items
            counts.failed_exports += int(failed_export)
            first_for_signal = signal not in self._failing
            self._failing.add(signal)
            first_ever = not self._warned
            self._warned = True
        if first_for_signal:
            more = (
                " Further export errors are counted, not logged; a summary is printed at exit."
                if first_ever
                else ""
            )
            self.emit(f"otelbundle: could not export {items} {signal} to {self.endpoint}: {reason}.{more}")

    def suppressed(self) -> None:
        with self._lock:
            self.suppressed_log_lines += 1

    def summary(self) -> str | None:
        """One line with every non-zero drop count, or None when nothing was lost."""
        with self._lock:
            parts = [
                f"metrics: {c.failed_exports} failed exports"
                if signal == "metrics"
                else f"{signal}={c.dropped} dropped ({c.failed_exports} failed exports)"
                for signal, c in self.counts.items()
                if c.dropped or c.failed_exports
            ]
        if not parts:
            return None
        return f"otelbundle: telemetry not delivered to {self.endpoint}: " + ", ".join(parts) + "."


def _count_export(report: DropReport, signal: str, items: int, export: Callable[[], bool]) -> bool:
    """Run one export; count its items as exported or dropped. Never raises."""
    try:
        ok = export()
    except Exception as exc:  # the exporter must not take the worker thread down
        report.dropped(signal, items, f"{type(exc).__name__}: {exc}")
        return False
    if ok:
        report.exported(signal, items)
    else:
        report.dropped(signal, items, "the exporter gave up (collector unreachable or rejecting)")
    return ok


class CountingSpanExporter(SpanExporter):
    """Delegates to the real exporter and counts the spans of failed batches."""

    def __init__(self, inner: SpanExporter, report: DropReport) -> None:
        self._inner = inner
        self._report = report

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        ok = _count_export(
            self._report, "spans", len(spans), lambda: self._inner.export(spans) is SpanExportResult.SUCCESS
        )
        return SpanExportResult.SUCCESS if ok else SpanExportResult.FAILURE

    def shutdown(self) -> None:
        self._inner.shutdown()

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        return self._inner.force_flush(timeout_millis)


class CountingLogExporter(LogRecordExporter):
    """Delegates to the real log exporter and counts the records of failed batches."""

    def __init__(self, inner: LogRecordExporter, report: DropReport) -> None:
        self._inner = inner
        self._report = report

    def export(self, batch: Sequence[ReadableLogRecord]) -> LogRecordExportResult:
        ok = _count_export(
            self._report,
            "logs",
            len(batch),
            lambda: self._inner.export(batch) is LogRecordExportResult.SUCCESS,
        )
        return LogRecordExportResult.SUCCESS if ok else LogRecordExportResult.FAILURE

    def shutdown(self) -> None:
        self._inner.shutdown()  # type: ignore[no-untyped-call]

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        return bool(self._inner.force_flush(timeout_millis))


class ExportLogFilter(logging.Filter):
    """Folds the SDK's per-batch export messages into the drop report.

    Queue-full lines become drop counts; failed metric exports (the only signal
    whose exporter we cannot wrap through a configurator argument) become a drop
    report; everything else export-related at WARNING and above is counted as a
    suppressed line. Records below WARNING pass through untouched.
    """

    def __init__(self, report: DropReport) -> None:
        super().__init__("otelbundle-export")
        self._report = report

    def filter(self, record: logging.LogRecord) -> bool:
        if record.levelno < logging.WARNING:
            # "Shutdown called, ignoring Log." is logged for each record that
            # arrives after exit began; routed to the OTLP handler it loops back.
            return "Shutdown called, ignoring" not in str(record.msg)
        try:
            message = record.getMessage()
        except Exception:
            return True
        lowered = message.lower()
        if "queue full" in lowered:
            signal = "logs" if "log" in lowered else "spans"
            reason = "the in-process queue is full (export slower than production)"
            self._report.dropped(signal, 1, reason, failed_export=False)
            return False
        if "metrics" in lowered and ("failed to export" in lowered or "exception while exporting" in lowered):
            self._report.dropped("metrics", 1, message.split(",")[0])
            return False
        if any(word in lowered for word in ("export", "transient error", "retrying")):
            self._report.suppressed()
            return False
        return True


def install_log_filter(report: DropReport) -> ExportLogFilter:
    export_filter = ExportLogFilter(report)
    for name in EXPORTER_LOGGERS:
        logging.getLogger(name).addFilter(export_filter)
    return export_filter


def remove_log_filter(export_filter: ExportLogFilter) -> None:
    for name in EXPORTER_LOGGERS:
        logging.getLogger(name).removeFilter(export_filter)
