"""The distro's log batch processor: batches as the SDK's would, exports what the SDK's would export
(byte for byte), refuses and counts what its queue cannot hold, suppresses instrumentation while it
exports, survives a failing exporter, stops cleanly, and starts empty in a forked child."""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Iterator, Sequence

import pytest
from opentelemetry.exporter.otlp.proto.common._log_encoder import encode_logs
from opentelemetry.instrumentation.utils import is_instrumentation_enabled
from opentelemetry.sdk._logs import LoggerProvider, ReadableLogRecord
from opentelemetry.sdk._logs.export import (
    BatchLogRecordProcessor,
    LogRecordExporter,
    LogRecordExportResult,
)
from opentelemetry.sdk.resources import Resource

from harness.forked import in_forked_child
from otelbundle.sdk.export.log_batch import LogBatchProcessor
from otelbundle.sdk.export.report import DropReport
from otelbundle.sdk.export.resource_once import HashedResource


class Recording(LogRecordExporter):
    def __init__(self, fail: bool = False) -> None:
        self.batches: list[list[ReadableLogRecord]] = []
        self.instrumented: list[bool] = []
        self.fail = fail
        self.stopped = False

    def export(self, batch: Sequence[ReadableLogRecord]) -> LogRecordExportResult:
        self.instrumented.append(is_instrumentation_enabled())
        if self.fail:
            raise ConnectionError("collector gone")
        self.batches.append(list(batch))
        return LogRecordExportResult.SUCCESS

    def shutdown(self) -> None:
        self.stopped = True

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        return True

    def bodies(self) -> list[str]:
        return [str(r.log_record.body) for batch in self.batches for r in batch]


RESOURCE = Resource.create({"service.name": "shop", "host.name": "web-1"})


def _pipeline(
    exporter: LogRecordExporter, **env: str
) -> tuple[LoggerProvider, LogBatchProcessor, DropReport]:
    report = DropReport(endpoint="test")
    settings = {"OTEL_BLRP_SCHEDULE_DELAY": "60000", **env}
    processor = LogBatchProcessor(exporter, report, env=settings)
    provider = LoggerProvider(resource=RESOURCE, shutdown_on_exit=False)
    provider.add_log_record_processor(processor)
    return provider, processor, report


@pytest.fixture
def recording() -> Iterator[tuple[LoggerProvider, LogBatchProcessor, DropReport, Recording]]:
    exporter = Recording()
    provider, processor, report = _pipeline(exporter, OTEL_BLRP_MAX_EXPORT_BATCH_SIZE="4")
    yield provider, processor, report, exporter
    provider.shutdown()


def _wait(condition: object, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition() and time.monotonic() < deadline:  # type: ignore[operator]
        time.sleep(0.01)


def test_a_full_batch_is_exported_by_the_thread_and_flush_exports_the_rest(
    recording: tuple[LoggerProvider, LogBatchProcessor, DropReport, Recording],
) -> None:
    provider, processor, report, exporter = recording
    logger = provider.get_logger("t")
    for i in range(6):
        logger.emit(body=f"r{i}")
    _wait(lambda: exporter.batches)  # four make a batch: the thread wakes, long before its delay
    assert [len(b) for b in exporter.batches] == [4]
    assert processor.force_flush()
    assert exporter.bodies() == [f"r{i}" for i in range(6)]  # oldest first
    assert report.counts["logs"].exported == 6 and report.counts["logs"].dropped == 0
    assert exporter.instrumented == [False, False]  # the export's own HTTP request is not traced


def test_the_export_is_what_the_sdk_processor_exports_with_the_resource_hashed_once() -> None:
    ours, theirs = Recording(), Recording()
    provider, _, _ = _pipeline(ours)
    provider.add_log_record_processor(BatchLogRecordProcessor(theirs))
    logger = provider.get_logger("t", "1.0")
    logger.emit(body="hello", attributes={"order": 7, "tags": ["a", "b"]}, severity_text="WARN")
    provider.force_flush()
    try:
        (mine,), (sdk,) = ours.batches[0], theirs.batches[0]
        assert type(mine.resource) is HashedResource and mine.resource == RESOURCE
        assert hash(mine.resource) == hash(RESOURCE)
        assert encode_logs([mine]).SerializeToString() == encode_logs([sdk]).SerializeToString()
    finally:
        provider.shutdown()


def test_a_full_queue_refuses_and_counts_without_an_sdk_line(
    caplog: pytest.LogCaptureFixture,
) -> None:
    gate = threading.Event()

    class Stuck(Recording):
        def export(self, batch: Sequence[ReadableLogRecord]) -> LogRecordExportResult:
            gate.wait(10)
            return super().export(batch)

    exporter = Stuck()
    provider, processor, report = _pipeline(
        exporter, OTEL_BLRP_MAX_QUEUE_SIZE="4", OTEL_BLRP_MAX_EXPORT_BATCH_SIZE="2"
    )
    try:
        logger = provider.get_logger("t")
        for i in range(2):
            logger.emit(body=f"r{i}")
        _wait(lambda: processor.pending == 0)  # taken by the thread, which is now stuck exporting
        for i in range(2, 9):
            logger.emit(body=f"r{i}")
        assert processor.pending == 4
        assert report.counts["logs"].dropped == 3
        gate.set()
        provider.force_flush()
        assert exporter.bodies() == [f"r{i}" for i in range(6)]
        assert "Queue full" not in caplog.text
    finally:
        gate.set()
        provider.shutdown()


def test_a_failing_exporter_is_counted_and_the_thread_goes_on() -> None:
    exporter = Recording(fail=True)
    provider, _, report = _pipeline(exporter, OTEL_BLRP_MAX_EXPORT_BATCH_SIZE="2")
    try:
        logger = provider.get_logger("t")
        for i in range(4):
            logger.emit(body=f"r{i}")
        _wait(lambda: report.counts["logs"].dropped == 4)
        assert report.counts["logs"].dropped == 4 and report.counts["logs"].failed_exports == 2
        exporter.fail = False
        logger.emit(body="after")
        provider.force_flush()
        assert exporter.bodies() == ["after"]
    finally:
        provider.shutdown()


def test_shutdown_exports_what_is_queued_stops_the_exporter_and_ignores_later_records() -> None:
    exporter = Recording()
    provider, processor, report = _pipeline(exporter)
    logger = provider.get_logger("t")
    logger.emit(body="last")
    provider.shutdown()
    assert exporter.bodies() == ["last"] and exporter.stopped
    logger.emit(body="too late")
    assert processor.pending == 0 and report.counts["logs"].dropped == 0
    assert not processor.force_flush()


def test_bad_or_missing_settings_fall_back_to_the_sdk_defaults() -> None:
    processor = LogBatchProcessor(Recording(), DropReport(), env={"OTEL_BLRP_MAX_EXPORT_BATCH_SIZE": "x"})
    try:
        assert (processor.capacity, processor.batch_size, processor.delay) == (2048, 512, 1.0)
    finally:
        processor.shutdown()
    small = LogBatchProcessor(
        Recording(),
        DropReport(),
        env={"OTEL_BLRP_MAX_QUEUE_SIZE": "8", "OTEL_BLRP_MAX_EXPORT_BATCH_SIZE": "64"},
    )
    try:
        assert small.batch_size == 8  # never more than the queue holds
    finally:
        small.shutdown()


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs fork()")
def test_a_forked_child_starts_empty_and_exports_its_own(
    recording: tuple[LoggerProvider, LogBatchProcessor, DropReport, Recording],
) -> None:
    provider, processor, _, exporter = recording
    logger = provider.get_logger("t")
    logger.emit(body="parent's")

    def child() -> bool:
        ok = processor.pending == 0
        logger.emit(body="child's")
        processor.force_flush()
        return ok and exporter.bodies() == ["child's"]

    assert in_forked_child(child)
    processor.force_flush()
    assert exporter.bodies() == ["parent's"]
