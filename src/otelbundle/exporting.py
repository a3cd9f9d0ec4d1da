"""Counting what could not be exported, and saying so once instead of per batch.

With the collector down the SDK logs a warning or a traceback for every failed
batch and a "Queue full" line for every dropped span. That floods the app's
own logs exactly when someone is reading them. Counts come from the objects
the distro installs, never from the text of the SDK's messages:

* span and log exporters are wrapped (through the configurator's supported
  ``export_span_processor`` / ``export_log_record_processor`` arguments) so
  every item of a failed batch, or of a batch whose export raised, is counted;
* the batch processors sit behind :class:`BoundedSpanProcessor` /
  :class:`BoundedLogProcessor`, which admit at most the batch processor's queue
  size of items not yet handed to the exporter and count what they refuse, so
  the SDK's own queue never overflows (the SDK's queue-depth metrics exist only
  behind the process-wide ``OTEL_PYTHON_SDK_INTERNAL_METRICS_ENABLED``, which
  would also export them);
* records the SDK logs *on the thread of a counted export, while it runs* are
  folded into that export's count (:class:`ExportLogFold`): which records, is
  decided by where they were logged, not by what they say. The first one's
  message becomes the reason in the report, so nothing is lost unseen;
* metric exporters cannot be wrapped through a configurator argument: records
  at WARNING and above from the metric export path's loggers (the modules of
  the SDK's periodic reader and of the configured metric exporter classes) are
  counted as failed metric exports, the first one quoted in the report;
* :class:`DropReport` prints one warning on the first loss (saying what, where,
  and why), one line when export recovers, and a summary at exit.
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from importlib.metadata import entry_points

from opentelemetry.context import Context
from opentelemetry.sdk._logs import LogRecordProcessor, ReadableLogRecord, ReadWriteLogRecord
from opentelemetry.sdk._logs.export import (
    BatchLogRecordProcessor,
    LogRecordExporter,
    LogRecordExportResult,
)
from opentelemetry.sdk.metrics.export import PeriodicExportingMetricReader
from opentelemetry.sdk.trace import ReadableSpan, Span, SpanProcessor
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExporter, SpanExportResult

from otelbundle import forking

DIAGNOSTICS_LOGGER = "otelbundle.diagnostics"
QUEUE_FULL = "the in-process queue is full (export slower than production)"
SDK_QUEUE_SIZE = 2048  # the SDK's default for OTEL_BSP_MAX_QUEUE_SIZE and OTEL_BLRP_MAX_QUEUE_SIZE


def queue_size(env: Mapping[str, str], variable: str) -> int:
    """The batch processor's queue size as the SDK reads it (the distro has replaced bad values)."""
    try:
        return max(1, int(env.get(variable, "") or SDK_QUEUE_SIZE))
    except ValueError:
        return SDK_QUEUE_SIZE


def diagnostics_logger() -> logging.Logger:
    """Where otelbundle reports on itself (bad settings, delivery problems): stderr only.

    These messages must be seen before the app configures logging, and must not
    enter the OTLP log pipeline: a warning that logs could not be exported must
    not itself be queued for export (the SDK then reports recursive logging).
    Hence its own handler and no propagation (the rest of ``otelbundle.*``
    propagates normally).
    """
    logger = logging.getLogger(DIAGNOSTICS_LOGGER)
    if not logger.handlers:
        handler = logging.StreamHandler()
        handler.setFormatter(logging.Formatter("%(levelname)s %(message)s"))
        logger.addHandler(handler)
        logger.propagate = False
    return logger


def _warn(message: str) -> None:
    diagnostics_logger().warning("%s", message)


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
            what = signal if signal == "metrics" else f"{items} {signal}"  # metrics: exports, not items
            self.emit(f"otelbundle: could not export {what} to {self.endpoint}: {reason}.{more}")

    def suppressed(self) -> None:
        with self._lock:
            self.suppressed_log_lines += 1

    def after_fork_in_child(self) -> None:
        """A fresh lock: a parent thread may have held this one at fork."""
        self._lock = threading.Lock()

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


class ExportLogFold(logging.Filter):
    """Folds the SDK's records about an export into that export's count.

    A record is folded when it is logged on a thread that is inside a counted
    export (:meth:`during`), or when it comes from a logger named in
    ``metric_loggers`` at WARNING or above. Everything else passes untouched.
    """

    def __init__(self, report: DropReport) -> None:
        super().__init__("otelbundle-export")
        self._report = report
        self._local = threading.local()
        self._loggers: set[str] = set()
        self._metric_loggers: set[str] = set()

    def attach(self, logger_names: Iterable[str], *, metric_export: bool = False) -> None:
        for name in logger_names:
            if metric_export:
                self._metric_loggers.add(name)
            if name not in self._loggers:
                self._loggers.add(name)
                logging.getLogger(name).addFilter(self)

    def detach(self) -> None:
        for name in self._loggers:
            logging.getLogger(name).removeFilter(self)
        self._loggers.clear()
        self._metric_loggers.clear()

    def during(self) -> _Capture:
        """Context manager marking this thread as inside a counted export."""
        return _Capture(self._local)

    def filter(self, record: logging.LogRecord) -> bool:
        capture: _Capture | None = getattr(self._local, "capture", None)
        if capture is not None:
            if capture.first is None and record.levelno >= logging.WARNING:
                capture.first = _message(record)
            if record.levelno >= logging.WARNING:
                self._report.suppressed()
            return False
        if record.levelno >= logging.WARNING and record.name in self._metric_loggers:
            self._report.dropped("metrics", 0, _message(record))
            return False
        return True


class _Capture:
    """The first message logged during one export (the reason shown to the user)."""

    def __init__(self, local: threading.local) -> None:
        self._local = local
        self.first: str | None = None

    def __enter__(self) -> _Capture:
        self._local.capture = self
        return self

    def __exit__(self, *exc: object) -> None:
        self._local.capture = None


def _message(record: logging.LogRecord) -> str:
    try:
        text = record.getMessage()
    except Exception:
        text = str(record.msg)
    return text.splitlines()[0].rstrip(".") if text else record.name


def sdk_logger_names(prefixes: Sequence[str] = ("opentelemetry.exporter", "opentelemetry.sdk")) -> list[str]:
    """Loggers that exist now under the SDK's and exporters' packages (filters apply per logger)."""
    return [
        name
        for name in list(logging.Logger.manager.loggerDict)
        if any(name == p or name.startswith(p + ".") for p in prefixes)
    ]


def metric_export_logger_names(env: Mapping[str, str]) -> list[str]:
    """Loggers of the metric export path: the SDK's periodic reader and the configured exporters.

    Named by the modules that define those classes (the configured
    ``OTEL_METRICS_EXPORTER`` entry points, ``otlp`` resolved by protocol as the
    SDK does), so a moved or renamed module is followed.
    """
    protocol = (
        env.get("OTEL_EXPORTER_OTLP_METRICS_PROTOCOL") or env.get("OTEL_EXPORTER_OTLP_PROTOCOL") or "grpc"
    ).strip()
    names = {PeriodicExportingMetricReader.__module__}
    wanted = {n.strip() for n in env.get("OTEL_METRICS_EXPORTER", "otlp").split(",") if n.strip()}
    if "otlp" in wanted:
        wanted.discard("otlp")
        wanted.add("otlp_proto_http" if protocol == "http/protobuf" else "otlp_proto_grpc")
    for point in entry_points(group="opentelemetry_metrics_exporter"):
        if point.name not in wanted:
            continue
        try:
            exporter_class = point.load()
        except Exception:
            continue
        names.update(
            k.__module__ for k in exporter_class.__mro__ if k.__module__.startswith("opentelemetry.")
        )
    return sorted(names)


def _count_export(
    report: DropReport, fold: ExportLogFold | None, signal: str, items: int, export: Callable[[], bool]
) -> bool:
    """Run one export; count its items as exported or dropped. Never raises."""
    capture: _Capture | None = None
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
        ok = _count_export(
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
        ok = _count_export(
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
            self._report.dropped("spans", 1, QUEUE_FULL, failed_export=False)

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
            self._report.dropped("logs", 1, QUEUE_FULL, failed_export=False)

    def shutdown(self) -> None:
        self._closed = True
        forking.remove(f"log-backlog-{id(self)}")
        self._inner.shutdown()  # type: ignore[no-untyped-call]

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        return self._inner.force_flush(timeout_millis)
