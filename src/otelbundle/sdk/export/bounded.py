"""The exporters and processors the distro installs, counting every item they lose.

* span and log exporters are wrapped (through the configurator's supported
  ``export_span_processor`` / ``export_log_record_processor`` arguments) so
  every item of a failed batch, or of a batch whose export raised, is counted;
* the batch processors sit behind :class:`BoundedSpanProcessor` /
  :class:`BoundedLogProcessor`, which admit at most the batch processor's queue
  size of items not yet handed to the exporter and count what they refuse, so
  the SDK's own queue never overflows (the SDK's queue-depth metrics exist only
  behind the process-wide ``OTEL_PYTHON_SDK_INTERNAL_METRICS_ENABLED``, which
  would also export them). A full queue refuses the newest item.

What is counted goes to a :class:`~otelbundle.sdk.export.report.DropReport`.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Mapping, Sequence

from opentelemetry.context import Context
from opentelemetry.sdk._logs import LogRecordProcessor, ReadableLogRecord, ReadWriteLogRecord
from opentelemetry.sdk._logs.export import (
    BatchLogRecordProcessor,
    LogRecordExporter,
    LogRecordExportResult,
)
from opentelemetry.sdk.trace import ReadableSpan, Span, SpanProcessor
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExporter, SpanExportResult

from otelbundle.sdk import forking
from otelbundle.sdk.export.report import DropReport, ExportCapture, ExportLogFold

SDK_QUEUE_SIZE = 2048  # the SDK's default for OTEL_BSP_MAX_QUEUE_SIZE and OTEL_BLRP_MAX_QUEUE_SIZE


def queue_size(env: Mapping[str, str], variable: str) -> int:
    """The batch processor's queue size as the SDK reads it (the distro has replaced bad values)."""
    try:
        return max(1, int(env.get(variable, "") or SDK_QUEUE_SIZE))
    except ValueError:
        return SDK_QUEUE_SIZE


def count_export(
    report: DropReport, fold: ExportLogFold | None, signal: str, items: int, export: Callable[[], bool]
) -> bool:
    """Run one export; count its items as exported or dropped. Never raises."""
    capture: ExportCapture | None = None
    try:
        if fold is None:
            ok = export()
        else:
            with fold.during() as capture:
                ok = export()
    except Exception as exc:  # the exporter must not take the worker thread down
        report.dropped(signal, items, f"{type(exc).__name__}: {exc}")
        return False
    if ok:
        report.exported(signal, items)
    else:
        said = capture.first if capture is not None else None
        report.dropped(signal, items, said or "the exporter gave up (collector unreachable or rejecting)")
    return ok


class Backlog:
    """Items admitted to a batch processor and not yet handed to its exporter.

    Always at least the batch processor's own queue length (the processor takes
    a batch off its queue just before calling the exporter), so admitting only
    while it is below the queue size means the SDK's queue never overflows,
    and every refused item is counted exactly.
    """

    def __init__(self, capacity: int) -> None:
        self.capacity = max(1, capacity)
        self._pending = 0
        self._lock = threading.Lock()

    def admit(self) -> bool:
        with self._lock:
            if self._pending >= self.capacity:
                return False
            self._pending += 1
            return True

    def taken(self, items: int) -> None:
        with self._lock:
            self._pending = max(0, self._pending - items)

    @property
    def pending(self) -> int:
        return self._pending

    def after_fork_in_child(self) -> None:
        """The batch processor empties its queue in a fork child; so does this count."""
        self._lock = threading.Lock()
        self._pending = 0


class CountingSpanExporter(SpanExporter):
    """Delegates to the real exporter and counts the spans of failed batches."""

    def __init__(
        self,
        inner: SpanExporter,
        report: DropReport,
        *,
        backlog: Backlog | None = None,
        fold: ExportLogFold | None = None,
    ) -> None:
        self._inner = inner
        self._report = report
        self._backlog = backlog
        self._fold = fold

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        if self._backlog is not None:
            self._backlog.taken(len(spans))
        ok = count_export(
            self._report,
            self._fold,
            "spans",
            len(spans),
            lambda: self._inner.export(spans) is SpanExportResult.SUCCESS,
        )
        return SpanExportResult.SUCCESS if ok else SpanExportResult.FAILURE

    def shutdown(self) -> None:
        self._inner.shutdown()

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        return self._inner.force_flush(timeout_millis)


class CountingLogExporter(LogRecordExporter):
    """Delegates to the real log exporter and counts the records of failed batches."""

    def __init__(
        self,
        inner: LogRecordExporter,
        report: DropReport,
        *,
        backlog: Backlog | None = None,
        fold: ExportLogFold | None = None,
    ) -> None:
        self._inner = inner
        self._report = report
        self._backlog = backlog
        self._fold = fold

    def export(self, batch: Sequence[ReadableLogRecord]) -> LogRecordExportResult:
        if self._backlog is not None:
            self._backlog.taken(len(batch))
        ok = count_export(
            self._report,
            self._fold,
            "logs",
            len(batch),
            lambda: self._inner.export(batch) is LogRecordExportResult.SUCCESS,
        )
        return LogRecordExportResult.SUCCESS if ok else LogRecordExportResult.FAILURE

    def shutdown(self) -> None:
        self._inner.shutdown()  # type: ignore[no-untyped-call]

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        return bool(self._inner.force_flush(timeout_millis))


class BoundedSpanProcessor(SpanProcessor):
    """The SDK's BatchSpanProcessor, admitting only what its queue can hold; refusals are counted.

    When the queue is full the newest span is refused (the SDK alone would drop
    the oldest); after shutdown spans are ignored without a log line per span.
    """

    def __init__(self, exporter: SpanExporter, report: DropReport, fold: ExportLogFold | None = None) -> None:
        self.backlog = Backlog(queue_size(os.environ, "OTEL_BSP_MAX_QUEUE_SIZE"))
        self._report = report
        self._closed = False
        self._inner = BatchSpanProcessor(
            CountingSpanExporter(exporter, report, backlog=self.backlog, fold=fold),
            max_queue_size=self.backlog.capacity,
        )
        forking.on_child(f"span-backlog-{id(self)}", self.backlog.after_fork_in_child)

    def on_start(self, span: Span, parent_context: Context | None = None) -> None:
        self._inner.on_start(span, parent_context)

    def on_end(self, span: ReadableSpan) -> None:
        if self._closed or not (span.context and span.context.trace_flags.sampled):
            return  # the batch processor would ignore it too
        if self.backlog.admit():
            self._inner.on_end(span)
        else:
            self._report.refused("spans")

    def shutdown(self) -> None:
        self._closed = True
        forking.remove(f"span-backlog-{id(self)}")
        self._inner.shutdown()  # type: ignore[no-untyped-call]

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        return self._inner.force_flush(timeout_millis)


class BoundedLogProcessor(LogRecordProcessor):
    """The SDK's BatchLogRecordProcessor, admitting only what its queue can hold; refusals are counted."""

    def __init__(
        self, exporter: LogRecordExporter, report: DropReport, fold: ExportLogFold | None = None
    ) -> None:
        self.backlog = Backlog(queue_size(os.environ, "OTEL_BLRP_MAX_QUEUE_SIZE"))
        self._report = report
        self._closed = False
        self._inner = BatchLogRecordProcessor(
            CountingLogExporter(exporter, report, backlog=self.backlog, fold=fold),
            max_queue_size=self.backlog.capacity,
        )
        forking.on_child(f"log-backlog-{id(self)}", self.backlog.after_fork_in_child)

    def on_emit(self, log_record: ReadWriteLogRecord) -> None:
        if self._closed:
            return  # the SDK would log "Shutdown called" per record, which loops back here
        if self.backlog.admit():
            self._inner.on_emit(log_record)
        else:
            self._report.refused("logs")

    def shutdown(self) -> None:
        self._closed = True
        forking.remove(f"log-backlog-{id(self)}")
        self._inner.shutdown()  # type: ignore[no-untyped-call]

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        return self._inner.force_flush(timeout_millis)
