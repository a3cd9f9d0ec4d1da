"""The distro's log batch processor: batches as the SDK's would, exports what the SDK's would export
(byte for byte), refuses and counts what its queue cannot hold, suppresses instrumentation while it
exports, survives a failing exporter, stops cleanly, and starts empty in a forked child."""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Iterator, Sequence

import pytest
from opentelemetry.exporter.otlp.proto.common._log_encoder import encode_logs
from opentelemetry.instrumentation.utils import is_instrumentation_enabled
from opentelemetry.sdk._logs import LoggerProvider, LogRecordLimits, ReadableLogRecord
from opentelemetry.sdk._logs.export import (
    BatchLogRecordProcessor,
    LogRecordExporter,
    LogRecordExportResult,
)
from opentelemetry.sdk.resources import Resource

from harness.forked import in_forked_child
from otelbundle.scrub import Scrubber, log_step
from otelbundle.sdk import forking
from otelbundle.sdk.export.log_batch import LogBatchProcessor
from otelbundle.sdk.export.report import DropReport, ExportLogFold
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


# ---- promises no test above pinned (found by mutation testing) ----


def test_without_an_env_mapping_the_process_environment_is_read(monkeypatch: pytest.MonkeyPatch) -> None:
    """How the configurator builds it."""
    monkeypatch.setenv("OTEL_BLRP_MAX_QUEUE_SIZE", "7")
    monkeypatch.setenv("OTEL_BLRP_MAX_EXPORT_BATCH_SIZE", "3")
    processor = LogBatchProcessor(Recording(), DropReport())
    try:
        assert (processor.capacity, processor.batch_size) == (7, 3)
    finally:
        processor.shutdown()


def test_a_partial_batch_leaves_after_the_schedule_delay_without_a_flush() -> None:
    exporter = Recording()
    provider, _, _ = _pipeline(exporter, OTEL_BLRP_SCHEDULE_DELAY="50")
    try:
        logger = provider.get_logger("t")
        for i in range(3):
            logger.emit(body=f"r{i}")
        _wait(lambda: len(exporter.bodies()) == 3)  # one 50 ms delay; 10 s is the last resort
        assert exporter.bodies() == ["r0", "r1", "r2"]
    finally:
        provider.shutdown()


def test_shutdown_stops_waiting_for_a_stuck_export_after_the_export_timeout() -> None:
    gate, started = threading.Event(), threading.Event()

    class Stuck(Recording):
        def export(self, batch: Sequence[ReadableLogRecord]) -> LogRecordExportResult:
            started.set()
            gate.wait(60)
            return super().export(batch)

    exporter = Stuck()
    provider, processor, _ = _pipeline(
        exporter, OTEL_BLRP_MAX_EXPORT_BATCH_SIZE="1", OTEL_BLRP_EXPORT_TIMEOUT="100"
    )
    try:
        provider.get_logger("t").emit(body="stuck")
        assert started.wait(10)
        stopping = threading.Thread(target=processor.shutdown)
        stopping.start()
        stopping.join(20)  # the promise is 100 ms
        assert not stopping.is_alive() and not gate.is_set()
        assert exporter.stopped
    finally:
        gate.set()


def test_a_flush_that_runs_out_of_time_says_so() -> None:
    class Slow(Recording):
        def export(self, batch: Sequence[ReadableLogRecord]) -> LogRecordExportResult:
            done = time.monotonic() + 0.05  # longer than the flush's 10 ms, however loaded the machine
            while time.monotonic() < done:
                threading.Event().wait(0.01)
            return super().export(batch)

    exporter = Slow()
    provider, processor, _ = _pipeline(exporter, OTEL_BLRP_MAX_EXPORT_BATCH_SIZE="2")
    try:
        logger = provider.get_logger("t")
        for i in range(3):
            logger.emit(body=f"r{i}")
        assert processor.force_flush(timeout_millis=10) is False  # r2 waits behind a 50 ms export
        assert processor.force_flush() is True
        assert exporter.bodies() == ["r0", "r1", "r2"]
    finally:
        provider.shutdown()


def test_the_step_it_is_given_runs_on_every_exported_record() -> None:
    exporter = Recording()
    processor = LogBatchProcessor(
        exporter,
        DropReport(),
        prepare=log_step(Scrubber()),
        env={"OTEL_BLRP_SCHEDULE_DELAY": "60000"},
    )
    provider = LoggerProvider(resource=RESOURCE, shutdown_on_exit=False)
    provider.add_log_record_processor(processor)
    try:
        provider.get_logger("t").emit(body="GET /x?api_key=K3Y-SECRET")
        provider.force_flush()
        assert exporter.bodies() == ["GET /x?api_key=REDACTED"]
    finally:
        provider.shutdown()


def test_sdk_log_records_during_its_export_are_folded_into_the_drop_report() -> None:
    lines: list[str] = []
    report = DropReport(endpoint="http://c:4318", emit=lines.append)
    fold = ExportLogFold(report)
    exporter_logger = logging.getLogger("tests.log_batch_exporter")
    fold.attach([exporter_logger.name])

    class Complaining(Recording):
        def export(self, batch: Sequence[ReadableLogRecord]) -> LogRecordExportResult:
            exporter_logger.warning("Transient error %s, retrying", 503)
            return LogRecordExportResult.FAILURE

    processor = LogBatchProcessor(Complaining(), report, fold, env={"OTEL_BLRP_SCHEDULE_DELAY": "60000"})
    provider = LoggerProvider(resource=RESOURCE, shutdown_on_exit=False)
    provider.add_log_record_processor(processor)
    try:
        provider.get_logger("t").emit(body="r")
        provider.force_flush()
    finally:
        fold.detach()
        provider.shutdown()
    assert report.counts["logs"].dropped == 1 and report.suppressed_log_lines == 1
    assert lines == [
        "otelbundle: could not export 1 logs to http://c:4318: Transient error 503, retrying. "
        "Further export errors are counted, not logged; a summary is printed at exit."
    ]


def test_every_record_carries_the_providers_resource_and_limits() -> None:
    exporter = Recording()
    limits = LogRecordLimits(max_attributes=5)
    processor = LogBatchProcessor(exporter, DropReport(), env={"OTEL_BLRP_SCHEDULE_DELAY": "60000"})
    provider = LoggerProvider(resource=RESOURCE, shutdown_on_exit=False, log_record_limits=limits)
    provider.add_log_record_processor(processor)
    try:
        logger = provider.get_logger("t")
        for i in range(3):
            logger.emit(body=f"r{i}")
        provider.force_flush()
        records = [record for batch in exporter.batches for record in batch]
        assert [(record.resource, record.limits) for record in records] == [(RESOURCE, limits)] * 3
        assert {type(record.resource) for record in records} == {HashedResource}
    finally:
        provider.shutdown()


def test_its_thread_does_not_keep_the_process_alive() -> None:
    before = set(threading.enumerate())
    processor = LogBatchProcessor(Recording(), DropReport(), env={})
    try:
        started = set(threading.enumerate()) - before
        assert started and all(thread.daemon for thread in started)
    finally:
        processor.shutdown()


def test_shutdown_leaves_nothing_to_run_in_a_forked_child() -> None:
    before = forking.registered()
    processor = LogBatchProcessor(Recording(), DropReport(), env={})
    processor.shutdown()
    assert forking.registered() == before


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs fork()")
def test_every_processor_starts_empty_in_a_forked_child_with_a_thread_of_its_own() -> None:
    exporters = [Recording(), Recording()]
    provider = LoggerProvider(resource=RESOURCE, shutdown_on_exit=False)
    processors = [
        LogBatchProcessor(exporter, DropReport(), env={"OTEL_BLRP_SCHEDULE_DELAY": "60000"})
        for exporter in exporters
    ]
    for processor in processors:
        provider.add_log_record_processor(processor)
    try:
        provider.get_logger("t").emit(body="parent's")

        def child() -> bool:
            empty = all(p.pending == 0 for p in processors)
            for i in range(512):  # a full batch: each processor's own thread exports it, no flush
                provider.get_logger("t").emit(body=f"child's {i}")
            _wait(lambda: all(len(e.bodies()) == 512 for e in exporters))
            return empty and all(e.bodies()[0] == "child's 0" and len(e.bodies()) == 512 for e in exporters)

        assert in_forked_child(child)
    finally:
        provider.shutdown()
    assert [e.bodies() for e in exporters] == [["parent's"], ["parent's"]]


def test_a_huge_record_is_exported_alone_so_a_refusal_loses_only_it() -> None:
    """A collector refuses a request over its size limit (413) with the whole batch in it:
    the 30 MB line of `logger.info("x" * 30_000_000)` took the ten lines around it along."""

    class RefusesHuge(Recording):
        def export(self, batch: Sequence[ReadableLogRecord]) -> LogRecordExportResult:
            if sum(len(str(r.log_record.body)) for r in batch) > 20 * 1024 * 1024:
                return LogRecordExportResult.FAILURE  # what the OTLP exporter returns on a 413
            return super().export(batch)

    exporter = RefusesHuge()
    provider, processor, report = _pipeline(exporter, OTEL_BLRP_MAX_EXPORT_BATCH_SIZE="512")
    try:
        logger = provider.get_logger("t")
        for i in range(5):
            logger.emit(body=f"before {i}")
        logger.emit(body="x" * 30_000_000)
        for i in range(5):
            logger.emit(body=f"after {i}")
        assert processor.force_flush()
        assert exporter.bodies() == [f"before {i}" for i in range(5)] + [f"after {i}" for i in range(5)]
        assert report.counts["logs"].dropped == 1 and report.counts["logs"].failed_exports == 1
        assert report.counts["logs"].exported == 10
    finally:
        provider.shutdown()


def test_a_batch_cut_for_size_keeps_the_order_also_with_bodies_that_are_not_text() -> None:
    """The records after the cut go back to the front of the queue: the next batch starts with them."""
    exporter = Recording()
    provider, processor, _ = _pipeline(exporter, OTEL_BLRP_MAX_EXPORT_BATCH_SIZE="512")
    try:
        logger = provider.get_logger("t")
        bodies: list[object] = [1, "a", None, "y" * 3_000_000, {"k": "v"}, "z" * 3_000_000, "b", 2.5]
        for body in bodies:
            logger.emit(body=body)  # type: ignore[arg-type]
        assert processor.force_flush()
        assert [r.log_record.body for batch in exporter.batches for r in batch] == bodies
        assert [len(batch) for batch in exporter.batches] == [5, 3]  # cut before the second 3 MB line
    finally:
        provider.shutdown()
