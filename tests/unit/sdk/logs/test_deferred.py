"""Records leave the caller as they are and are exported as the handler would have exported them on
the caller's thread: the call's span, the message and `extra` as they were at the call, exception
text, every processor given every record (on the translator thread), drops counted, fork handled."""

from __future__ import annotations

import logging
import os
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass

import pytest
from opentelemetry.instrumentation.logging.handler import LoggingHandler
from opentelemetry.sdk._logs import LoggerProvider, LogRecordProcessor, ReadWriteLogRecord
from opentelemetry.sdk._logs.export import InMemoryLogRecordExporter, SimpleLogRecordProcessor
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.trace import SpanContext, TraceFlags

from harness.forked import in_forked_child
from otelbundle.sdk.export.report import DropReport
from otelbundle.sdk.logs import correlation
from otelbundle.sdk.logs import records as log_records
from otelbundle.sdk.logs.deferred import DeferredLogs, DeferredLogsProcessor


class Intake(LogRecordProcessor):
    """Another processor after ours (like the alert rules' log intake): notes where it ran."""

    def __init__(self) -> None:
        self.seen: list[tuple[str, str]] = []

    def on_emit(self, log_record: ReadWriteLogRecord) -> None:
        self.seen.append((str(log_record.log_record.body), threading.current_thread().name))

    def shutdown(self) -> None:
        return None

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        return True


@dataclass
class Setup:
    logger: logging.Logger
    deferred: DeferredLogs
    provider: LoggerProvider
    exporter: InMemoryLogRecordExporter
    report: DropReport
    intake: Intake
    handler: LoggingHandler

    def bodies(self) -> list[str]:
        return [str(r.log_record.body) for r in self.exporter.get_finished_logs()]


def _setup(capacity: int = 100, interval: float = 60.0) -> Setup:
    report = DropReport(endpoint="test")
    deferred = DeferredLogs(report, capacity=capacity, interval=interval)
    provider = LoggerProvider(shutdown_on_exit=False)
    exporter = InMemoryLogRecordExporter()
    intake = Intake()
    provider.add_log_record_processor(DeferredLogsProcessor(deferred))
    provider.add_log_record_processor(intake)
    provider.add_log_record_processor(SimpleLogRecordProcessor(exporter))
    handler = LoggingHandler(logger_provider=provider)
    correlation.record_filter(handler).defer_to(deferred)
    logger = logging.getLogger(f"test.deferred.{id(deferred)}")
    logger.propagate = False
    logger.setLevel(logging.DEBUG)
    logger.handlers[:] = [handler]
    return Setup(logger, deferred, provider, exporter, report, intake, handler)


@pytest.fixture
def setup() -> Iterator[Setup]:
    made = _setup()
    yield made
    made.logger.handlers[:] = []
    made.provider.shutdown()


def test_nothing_is_translated_on_the_caller_and_the_export_has_the_call_span_and_message(
    setup: Setup,
) -> None:
    tracer = TracerProvider().get_tracer("t")
    items = ["a"]
    with tracer.start_as_current_span("request") as span:
        setup.logger.info("items %s for %s", items, "bob", extra={"order": 7})
    items.append("b")  # after the call: must not show in the exported message
    assert setup.exporter.get_finished_logs() == () and setup.intake.seen == []
    assert setup.deferred.pending == 1
    setup.provider.force_flush()
    (record,) = setup.exporter.get_finished_logs()
    assert record.log_record.body == "items ['a'] for bob"
    assert record.log_record.trace_id == span.get_span_context().trace_id
    assert record.log_record.span_id == span.get_span_context().span_id
    assert dict(record.log_record.attributes or {})["order"] == 7


def test_extra_values_are_taken_at_the_call_with_the_same_bounds(setup: Setup) -> None:
    class Thing:
        def __init__(self) -> None:
            self.state = "then"

        def __repr__(self) -> str:
            return f"<Thing {self.state}>" + "x" * 1000

    thing, tags = Thing(), ["a"]
    setup.logger.info("x", extra={"thing": thing, "tags": tags, "nested": {"k": [thing]}})
    thing.state, tags[0] = "later", "changed"
    setup.provider.force_flush()
    (record,) = setup.exporter.get_finished_logs()
    attributes = dict(record.log_record.attributes or {})
    assert attributes["thing"].startswith("<Thing then>")
    assert len(attributes["thing"]) == log_records.MAX_VALUE_CHARS  # the conversion's bound
    assert attributes["tags"] == ("a",)
    assert attributes["nested"]["k"][0].startswith("<Thing then>")


def test_a_huge_list_costs_the_caller_a_bounded_copy_and_is_exported_cut(setup: Setup) -> None:
    ids = list(range(200_000))
    setup.logger.info("batch done", extra={"ids": ids})
    setup.provider.force_flush()
    (record,) = setup.exporter.get_finished_logs()
    exported = dict(record.log_record.attributes or {})["ids"]
    assert len(exported) == log_records.MAX_ITEMS + 1
    assert exported[-1] == f"… {200_000 - log_records.MAX_ITEMS} more items not exported"


def test_exceptions_are_exported_with_their_stack(setup: Setup) -> None:
    def fail() -> None:
        raise ValueError("boom")

    try:
        fail()
    except ValueError:
        setup.logger.exception("failed")
    setup.provider.force_flush()
    (record,) = setup.exporter.get_finished_logs()
    attributes = dict(record.log_record.attributes or {})
    assert attributes["exception.type"] == "ValueError" and attributes["exception.message"] == "boom"
    assert 'raise ValueError("boom")' in attributes["exception.stacktrace"]
    assert "in fail" in attributes["exception.stacktrace"]


def test_a_full_queue_refuses_and_counts() -> None:
    made = _setup(capacity=4)
    try:
        for i in range(6):
            made.logger.info("line %d", i)
        assert made.report.counts["logs"].dropped == 2
        made.provider.force_flush()
        assert made.bodies() == [f"line {i}" for i in range(4)]
    finally:
        made.provider.shutdown()


def test_every_processor_gets_every_record_on_the_translator_thread() -> None:
    made = _setup(interval=0.05)
    try:
        for i in range(3):
            made.logger.warning("w%d", i)
        deadline = time.monotonic() + 10
        while len(made.intake.seen) < 3 and time.monotonic() < deadline:
            time.sleep(0.01)  # no flush: the translator thread drains on its own
        assert made.intake.seen == [(f"w{i}", "otelbundle-log-translator") for i in range(3)]
        assert made.bodies() == ["w0", "w1", "w2"]
    finally:
        made.provider.shutdown()


def test_a_record_naming_a_request_whose_span_ended_joins_that_span(setup: Setup) -> None:
    noted = SpanContext(0xABC, 0xDEF, is_remote=False, trace_flags=TraceFlags(1))
    request = type("Request", (), {})()
    setattr(request, log_records.REQUEST_SPAN_ATTRIBUTE, noted)
    setup.logger.error("Internal Server Error: /x", extra={"request": request, "status_code": 500})
    setup.provider.force_flush()
    (record,) = setup.exporter.get_finished_logs()
    assert (record.log_record.trace_id, record.log_record.span_id) == (0xABC, 0xDEF)


def test_other_filters_on_the_handler_run_once_on_the_translator(setup: Setup) -> None:
    where: list[str] = []

    def note(record: logging.LogRecord) -> bool:
        where.append(threading.current_thread().name)
        return record.getMessage() != "hidden"

    setup.handler.addFilter(note)
    setup.logger.info("shown")
    setup.logger.info("hidden")
    assert where == []
    drained = threading.Thread(target=setup.deferred.drain, name="drainer")
    drained.start()
    drained.join()
    assert where == ["drainer", "drainer"]
    assert setup.bodies() == ["shown"]


def test_a_bad_format_does_not_reach_the_caller_and_is_reported(
    setup: Setup, monkeypatch: pytest.MonkeyPatch
) -> None:
    reported: list[tuple[str, type[BaseException] | None]] = []
    monkeypatch.setattr(
        setup.handler, "handleError", lambda record: reported.append((record.msg, sys.exc_info()[0]))
    )
    # Straight to the handler: pytest's own handlers on the logger would raise at the call.
    bad = logging.LogRecord(setup.logger.name, logging.INFO, __file__, 1, "%d items", ("many",), None)
    setup.handler.handle(bad)  # on the caller's thread the contrib handler would raise TypeError
    setup.provider.force_flush()
    assert setup.bodies() == []
    assert reported == [("%d items", TypeError)]  # the stdlib's way to report a record it cannot emit


def test_shutdown_drains_and_then_nothing_more_is_queued(setup: Setup) -> None:
    setup.logger.info("before")
    setup.provider.shutdown()
    assert setup.bodies() == ["before"]
    setup.logger.info("after")
    assert setup.deferred.pending == 0 and setup.report.counts["logs"].dropped == 0
    assert setup.deferred.late == 1  # not exported: counted, for the exit summary's "not flushed"


def test_without_a_deferral_the_filter_works_inline_as_before() -> None:
    provider = LoggerProvider(shutdown_on_exit=False)
    exporter = InMemoryLogRecordExporter()
    provider.add_log_record_processor(SimpleLogRecordProcessor(exporter))
    handler = LoggingHandler(logger_provider=provider)
    correlation.record_filter(handler)
    logger = logging.getLogger("test.deferred.inline")
    logger.propagate = False
    logger.handlers[:] = [handler]
    try:
        logger.warning("now", extra={"thing": object()})
        (record,) = exporter.get_finished_logs()  # translated on this thread, at the call
        assert dict(record.log_record.attributes or {})["thing"].startswith("<object object")
    finally:
        logger.handlers[:] = []
        provider.shutdown()


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs fork()")
def test_a_forked_child_starts_empty_with_a_translator_of_its_own(setup: Setup) -> None:
    setup.logger.info("parent's")
    assert setup.deferred.pending == 1

    def child() -> bool:  # the parent's record is not the child's to export
        ok = setup.deferred.pending == 0
        setup.logger.info("child's")
        setup.provider.force_flush()
        return ok and setup.bodies() == ["child's"]

    assert in_forked_child(child)
    setup.provider.force_flush()
    assert setup.bodies() == ["parent's"]
