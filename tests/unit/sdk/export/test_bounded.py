"""The bounded span processor: room comes back as the exporter catches up, only sampled spans take room,
its step and its accounting are applied, it is quiet after shutdown, and a forked child starts empty.

Mutation testing found these unpinned: the one full-queue test bounds its count loosely, so a
backlog that never shrank, never reset in a child or counted unsampled spans passed it, as did a
processor that dropped its scrubbing step or its log fold.
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Iterator, Sequence
from typing import Any

import pytest
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SpanExporter, SpanExportResult
from opentelemetry.sdk.trace.sampling import Decision, Sampler, SamplingResult
from opentelemetry.trace import Link, SpanKind, TraceState

from harness.forked import in_forked_child
from otelbundle.scrub import Scrubber, span_step
from otelbundle.sdk import forking
from otelbundle.sdk.export.bounded import Accounting, Backlog, BoundedSpanProcessor
from otelbundle.sdk.export.report import DropReport, ExportLogFold


class Held(SpanExporter):
    """Holds every export in the parent process until released; a forked child's exports go through."""

    def __init__(self, released: bool = True) -> None:
        self.release = threading.Event()
        if released:
            self.release.set()
        self.parent = os.getpid()
        self.spans: list[ReadableSpan] = []

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        if os.getpid() == self.parent:
            self.release.wait(30)
        self.spans.extend(spans)
        return SpanExportResult.SUCCESS


@pytest.fixture
def small_queue(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OTEL_BSP_MAX_QUEUE_SIZE", "4")
    monkeypatch.setenv("OTEL_BSP_MAX_EXPORT_BATCH_SIZE", "1")
    monkeypatch.setenv("OTEL_BSP_SCHEDULE_DELAY", "60000")


@pytest.fixture
def report() -> DropReport:
    return DropReport(emit=lambda _: None)


@pytest.fixture
def provider() -> Iterator[TracerProvider]:
    provider = TracerProvider(shutdown_on_exit=False)
    yield provider
    provider.shutdown()


def _end(provider: TracerProvider, name: str = "s") -> None:
    provider.get_tracer("t").start_span(name).end()


# ---- the backlog: the count that keeps the SDK's queue from overflowing ----


def test_the_backlog_admits_its_capacity_and_room_comes_back_as_batches_are_taken() -> None:
    backlog = Backlog(3)
    assert [backlog.admit() for _ in range(4)] == [True, True, True, False]
    backlog.taken(2)
    assert backlog.pending == 1
    assert [backlog.admit() for _ in range(3)] == [True, True, False]
    backlog.taken(10)  # more than it holds: empty, never below
    assert backlog.pending == 0
    assert [backlog.admit() for _ in range(4)] == [True, True, True, False]


def test_a_backlog_of_one_holds_one() -> None:
    backlog = Backlog(1)
    assert [backlog.admit(), backlog.admit()] == [True, False]


@pytest.mark.usefixtures("small_queue")
def test_every_span_is_admitted_again_once_the_exporter_has_caught_up(
    provider: TracerProvider, report: DropReport
) -> None:
    exporter = Held()
    processor = BoundedSpanProcessor(exporter, Accounting(report))
    provider.add_span_processor(processor)
    for i in range(12):  # three times the queue, each exported before the next
        _end(provider, f"s{i}")
        assert processor.force_flush()
        assert processor.backlog.pending == 0
    assert [span.name for span in exporter.spans] == [f"s{i}" for i in range(12)]
    assert report.counts["spans"].dropped == 0


@pytest.mark.usefixtures("small_queue")
def test_spans_that_are_recorded_but_not_sampled_take_no_room(
    report: DropReport,
) -> None:
    class RecordInternalOnly(Sampler):
        def should_sample(
            self,
            parent_context: Any,
            trace_id: int,
            name: str,
            kind: SpanKind | None = None,
            attributes: Any = None,
            links: Sequence[Link] | None = None,
            trace_state: TraceState | None = None,
        ) -> SamplingResult:
            decision = Decision.RECORD_ONLY if name == "internal" else Decision.RECORD_AND_SAMPLE
            return SamplingResult(decision, attributes)

        def get_description(self) -> str:
            return "RecordInternalOnly"

    provider = TracerProvider(sampler=RecordInternalOnly(), shutdown_on_exit=False)
    exporter = Held()
    processor = BoundedSpanProcessor(exporter, Accounting(report))
    provider.add_span_processor(processor)
    try:
        for _ in range(10):
            _end(provider, "internal")
        for _ in range(3):
            _end(provider, "sampled")
        assert processor.force_flush()
        assert [span.name for span in exporter.spans] == ["sampled"] * 3
        assert report.counts["spans"].dropped == 0 and processor.backlog.pending == 0
    finally:
        provider.shutdown()


# ---- what the processor is given, it applies ----


def test_the_step_it_is_given_runs_on_every_exported_span(
    provider: TracerProvider, report: DropReport
) -> None:
    exporter = Held()
    provider.add_span_processor(
        BoundedSpanProcessor(exporter, Accounting(report), prepare=span_step(Scrubber()))
    )
    with provider.get_tracer("t").start_as_current_span("s") as span:
        span.set_attribute("url.full", "http://shop/x?api_key=K3Y-SECRET")
    provider.force_flush()
    assert [dict(span.attributes or {}) for span in exporter.spans] == [
        {"url.full": "http://shop/x?api_key=REDACTED"}
    ]


def test_sdk_log_records_during_its_export_are_folded_into_the_drop_report(provider: TracerProvider) -> None:
    lines: list[str] = []
    report = DropReport(endpoint="http://c:4318", emit=lines.append)
    fold = ExportLogFold(report)
    exporter_logger = logging.getLogger("tests.bounded_exporter")
    fold.attach([exporter_logger.name])

    class Complaining(SpanExporter):
        def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
            exporter_logger.warning("Transient error %s, retrying", 503)
            return SpanExportResult.FAILURE

    try:
        provider.add_span_processor(BoundedSpanProcessor(Complaining(), Accounting(report, fold)))
        _end(provider)
        provider.force_flush()
    finally:
        fold.detach()
    assert report.counts["spans"].dropped == 1 and report.suppressed_log_lines == 1
    assert lines == [
        "otelbundle: could not export 1 spans to http://c:4318: Transient error 503, retrying. "
        "Further export errors are counted, not logged; a summary is printed at exit."
    ]


# ---- after shutdown, and in a forked child ----


def test_spans_ended_after_shutdown_are_ignored_without_a_line_per_span(
    caplog: pytest.LogCaptureFixture, provider: TracerProvider, report: DropReport
) -> None:
    exporter = Held()
    before = forking.registered()
    processor = BoundedSpanProcessor(exporter, Accounting(report))
    provider.add_span_processor(processor)
    processor.shutdown()
    assert forking.registered() == before  # nothing left to run in a forked child
    with caplog.at_level(logging.DEBUG, logger="opentelemetry"):
        for _ in range(3):
            _end(provider, "late")
    assert exporter.spans == [] and report.counts["spans"].dropped == 0 and processor.backlog.pending == 0
    assert [r.getMessage() for r in caplog.records if r.name.startswith("opentelemetry")] == []


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs fork()")
@pytest.mark.usefixtures("small_queue")
def test_a_forked_child_starts_with_room_in_every_processor(
    provider: TracerProvider, report: DropReport
) -> None:
    exporters = [Held(released=False), Held(released=False)]
    processors = [BoundedSpanProcessor(exporter, Accounting(report)) for exporter in exporters]
    for processor in processors:
        provider.add_span_processor(processor)
    try:
        for _ in range(50):  # the exports are held: the backlogs fill
            _end(provider)
            if all(p.backlog.pending == p.backlog.capacity for p in processors):
                break
        assert all(p.backlog.pending == p.backlog.capacity for p in processors)

        def child() -> bool:
            empty = all(p.backlog.pending == 0 for p in processors)
            _end(provider, "child's")
            provider.force_flush()
            return empty and all([s.name for s in e.spans] == ["child's"] for e in exporters)

        assert in_forked_child(child)
    finally:
        for exporter in exporters:
            exporter.release.set()
