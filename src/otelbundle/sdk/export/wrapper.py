"""The one exporter wrapper for spans and logs: an optional step on the batch, then the export, counted.

Installed by the configurator through the SDK's supported ``export_span_processor``
/ ``export_log_record_processor`` arguments (see :mod:`otelbundle.sdk.export.bounded`).
One generic class serves both signals, as the SDK's own ``BatchProcessor`` does
behind ``BatchSpanProcessor`` and ``BatchLogRecordProcessor``: what differs per
signal is data (:class:`Signal`), not code.

* ``prepare`` turns the batch into what is exported (spans carrying a resource
  whose hash is computed once, :mod:`otelbundle.sdk.export.resource_once`;
  scrubbed copies, :mod:`otelbundle.scrub.copies`, which can do both in one
  copy); it runs on the export thread, never on the application's;
* every item of a failed batch, or of a batch whose export raised, is counted on
  a :class:`~otelbundle.sdk.export.report.DropReport`; records the SDK logs while
  the export runs are folded into that count (:class:`ExportLogFold`). Our metric
  reader's exports are counted the same way (:func:`count_export`).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Generic, Protocol, TypeVar, cast

from opentelemetry.sdk._logs import ReadableLogRecord
from opentelemetry.sdk._logs.export import LogRecordExporter, LogRecordExportResult
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export import SpanExporter, SpanExportResult

from otelbundle.sdk.export import refusals
from otelbundle.sdk.export.report import DropReport, ExportCapture, ExportLogFold

Item = TypeVar("Item")
Result = TypeVar("Result")


@dataclass(frozen=True)
class Signal(Generic[Item, Result]):
    """What the span and log paths differ in: a name, the SDK's result values, its queue variable."""

    name: str
    success: Result
    failure: Result
    queue_variable: str


SPANS: Signal[ReadableSpan, SpanExportResult] = Signal(
    "spans", SpanExportResult.SUCCESS, SpanExportResult.FAILURE, "OTEL_BSP_MAX_QUEUE_SIZE"
)
LOGS: Signal[ReadableLogRecord, LogRecordExportResult] = Signal(
    "logs", LogRecordExportResult.SUCCESS, LogRecordExportResult.FAILURE, "OTEL_BLRP_MAX_QUEUE_SIZE"
)
_ONE = {"spans": "span", "logs": "log record"}


class BatchStep(Protocol[Item]):
    """A step run on each batch before it is exported (scrubbing), and told when the path stops."""

    def __call__(self, batch: Sequence[Item]) -> Sequence[Item]: ...

    def close(self) -> None: ...


class Taken(Protocol):
    def taken(self, items: int) -> None: ...


def count_export(
    report: DropReport,
    fold: ExportLogFold | None,
    signal: str,
    items: int,
    export: Callable[[], bool],
    *,
    superseded: Callable[[], bool] | None = None,
    why: Callable[[], str | None] | None = None,
) -> bool:
    """Run one export; count its items as exported or dropped. Never raises.

    While it runs its items are counted as being sent: an exit flush that runs out
    of time during it (the exporter retrying) reports them as not flushed. A failed
    export that ``superseded`` says is going again in parts is not counted (its parts
    are); ``why`` may say better than the exporter's log line why it failed.
    """
    capture: ExportCapture | None = None
    try:
        with report.sending(signal, items):
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
    elif superseded is None or not superseded():
        said = (why() if why is not None else None) or (capture.reason if capture is not None else None)
        report.dropped(signal, items, said or "the exporter gave up (collector unreachable or rejecting)")
    return ok


class ExportWrapper(Generic[Item, Result]):
    """Delegates to the real exporter: ``prepare`` first (if any), then the export, counted (if a report).

    It has the methods of both ``SpanExporter`` and ``LogRecordExporter``;
    :func:`span_exporter` and :func:`log_exporter` give it the SDK's type.
    """

    def __init__(
        self,
        signal: Signal[Item, Result],
        inner: Any,
        *,
        prepare: BatchStep[Item] | None = None,
        report: DropReport | None = None,
        fold: ExportLogFold | None = None,
        backlog: Taken | None = None,
    ) -> None:
        self._signal = signal
        self._inner = inner
        self._prepare = prepare
        self._report = report
        self._fold = fold
        self._backlog = backlog

    def export(self, batch: Sequence[Item]) -> Result:
        if self._backlog is not None:
            self._backlog.taken(len(batch))
        if self._report is None:
            return self._send(batch)
        ok = self._export_counted(self._report, batch, len(batch), prepare=True)
        return self._signal.success if ok else self._signal.failure

    def _send(self, batch: Sequence[Item]) -> Result:
        prepared = self._prepare(batch) if self._prepare is not None else batch
        if not prepared:
            return self._signal.success  # everything was left out by the step (and counted there)
        result: Result = self._inner.export(prepared)
        return result

    def _export_counted(
        self, report: DropReport, items: Sequence[Item], counted: int, *, prepare: bool
    ) -> bool:
        """One export, counted; a batch the collector refused for its size goes again in parts,
        each counted, so an oversized item is lost alone (:mod:`~otelbundle.sdk.export.refusals`)."""
        signal = self._signal
        sent: list[Sequence[Item]] = []  # what was refused for its size, when it can be split
        refused: list[tuple[int, int]] = []

        def attempt() -> bool:
            batch = self._prepare(items) if prepare and self._prepare is not None else items
            if not batch:
                return True  # everything was left out by the step (and counted there)
            refusals.forget()
            ok = self._inner.export(batch) is signal.success
            answer = None if ok else refusals.refused_bytes()
            if answer is not None:
                refused.append(answer)
                if len(batch) > 1:
                    sent.append(batch)
            return ok

        def why() -> str | None:
            if not refused:
                return None
            status, size = refused[0]
            said = f"the collector refused a {_ONE[signal.name]} of {refusals.shown_size(size)} as too large (HTTP {status})"
            return said if prepare else f"{said}; what was sent with it went again in smaller requests"

        ok = count_export(
            report, self._fold, signal.name, counted, attempt, superseded=lambda: bool(sent), why=why
        )
        if not sent:
            return ok
        size_of = refusals.SIZERS.get(signal.name)
        results = [
            self._export_counted(report, part, len(part), prepare=False)
            for part in refusals.parts(sent[0], refused[0][1], size_of)
        ]
        return all(results)

    def shutdown(self) -> None:
        self._inner.shutdown()
        if self._prepare is not None:
            self._prepare.close()

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        return bool(self._inner.force_flush(timeout_millis))


LogRecordExporter.register(ExportWrapper)  # an ABC: the wrapper is one by its methods


def span_exporter(wrapper: ExportWrapper[ReadableSpan, SpanExportResult]) -> SpanExporter:
    """The wrapper as the SDK's span exporter type.

    ``SpanExporter`` is a plain base class (not an ABC to register with); the SDK's
    batch processor calls only ``export``, ``shutdown`` and ``force_flush``, which the
    wrapper has with the span exporter's signatures for this ``Signal``.
    """
    return cast(SpanExporter, wrapper)


def log_exporter(wrapper: ExportWrapper[ReadableLogRecord, LogRecordExportResult]) -> LogRecordExporter:
    """The wrapper as the SDK's log exporter type (registered as a virtual subclass)."""
    assert isinstance(wrapper, LogRecordExporter)
    return wrapper
