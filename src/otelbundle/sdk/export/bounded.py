"""The span batch processor the distro installs: the SDK's own, admitting only what its queue can hold.

:class:`BoundedSpanProcessor` sits in front of the SDK's ``BatchSpanProcessor``
and admits at most the batch processor's queue size of spans not yet handed to
the exporter, counting what it refuses, so the SDK's own queue never overflows
(the SDK's queue-depth metrics exist only behind the process-wide
``OTEL_PYTHON_SDK_INTERNAL_METRICS_ENABLED``, which would also export them). A
full queue refuses the newest span. :class:`Admission` is written for any
signal; log records have a batch processor of their own, which needs no
admission in front (:mod:`otelbundle.sdk.export.log_batch`).
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Generic, Protocol, TypeVar

from opentelemetry.context import Context
from opentelemetry.sdk.trace import ReadableSpan, Span, SpanProcessor
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExporter, SpanExportResult

from otelbundle.config import environment
from otelbundle.sdk import forking
from otelbundle.sdk.export.report import DropReport, ExportLogFold
from otelbundle.sdk.export.wrapper import (
    SPANS,
    BatchStep,
    ExportWrapper,
    Item,
    Result,
    Signal,
    span_exporter,
)


class _Batch(Protocol):
    """What this module asks of the SDK's batch processors besides taking items."""

    def shutdown(self) -> None: ...

    def force_flush(self, timeout_millis: int = 30000) -> bool: ...


Batch = TypeVar("Batch", bound=_Batch)
SpanStep = BatchStep[ReadableSpan]


@dataclass(frozen=True)
class Accounting:
    """Where a bounded processor's losses go: the drop report, and the fold of the SDK's own log
    records about an export into that export's count."""

    report: DropReport
    fold: ExportLogFold | None = None


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


class Admission(Generic[Item, Result, Batch]):
    """One bounded batch processor, whatever the signal: the SDK's batch processor (``inner``)
    with the counted exporter, the backlog, and the closed flag."""

    def __init__(
        self,
        signal: Signal[Item, Result],
        make_batch: Callable[[Any, int], Batch],
        exporter: Any,
        accounting: Accounting,
        prepare: BatchStep[Item] | None,
    ) -> None:
        self.signal = signal
        self.backlog = Backlog(environment.queue_size(os.environ, signal.queue_variable))
        report, fold = accounting.report, accounting.fold
        wrapper = ExportWrapper(
            signal, exporter, prepare=prepare, report=report, fold=fold, backlog=self.backlog
        )
        self.inner = make_batch(wrapper, self.backlog.capacity)
        self._report = report
        self._closed = False
        self._fork_hook = f"{signal.name}-backlog-{id(self)}"
        forking.on_child(self._fork_hook, self.backlog.after_fork_in_child)

    def admit(self) -> bool:
        """Called on the application's thread: a length check, or a count of the refusal."""
        if self._closed:
            return False  # the batch processor would ignore it (or log per item) too
        if self.backlog.admit():
            return True
        self._report.refused(self.signal.name)
        return False

    def shutdown(self) -> None:
        self._closed = True
        forking.remove(self._fork_hook)
        self.inner.shutdown()

    def force_flush(self, timeout_millis: int) -> bool:
        return self.inner.force_flush(timeout_millis)


def _span_batch(wrapper: ExportWrapper[ReadableSpan, SpanExportResult], capacity: int) -> BatchSpanProcessor:
    # A batch bigger than the queue makes the SDK refuse to start; it can only be the queue.
    batch = min(capacity, environment.positive_int(os.environ, "OTEL_BSP_MAX_EXPORT_BATCH_SIZE"))
    return BatchSpanProcessor(span_exporter(wrapper), max_queue_size=capacity, max_export_batch_size=batch)


class BoundedSpanProcessor(SpanProcessor):
    """The SDK's BatchSpanProcessor behind an :class:`Admission` (spans that are not sampled are ignored)."""

    def __init__(
        self, exporter: SpanExporter, accounting: Accounting, prepare: SpanStep | None = None
    ) -> None:
        self._admission = Admission(SPANS, _span_batch, exporter, accounting, prepare)
        self.backlog = self._admission.backlog

    def on_start(self, span: Span, parent_context: Context | None = None) -> None:
        self._admission.inner.on_start(span, parent_context)

    def on_end(self, span: ReadableSpan) -> None:
        sampled = span.context is not None and span.context.trace_flags.sampled
        if sampled and self._admission.admit():
            self._admission.inner.on_end(span)

    def shutdown(self) -> None:
        self._admission.shutdown()

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        return self._admission.force_flush(timeout_millis)
