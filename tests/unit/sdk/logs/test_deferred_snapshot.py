"""The exported record is the record as it was at the call, whatever the app's other handlers do to it
afterwards (the translator runs later, and those handlers get the same record object)."""

from __future__ import annotations

import io
import logging
from collections.abc import Iterator

import pytest
from opentelemetry.instrumentation.logging.handler import LoggingHandler
from opentelemetry.sdk._logs import LoggerProvider
from opentelemetry.sdk._logs.export import InMemoryLogRecordExporter, SimpleLogRecordProcessor

from otelbundle.sdk.export.report import DropReport
from otelbundle.sdk.logs import correlation
from otelbundle.sdk.logs.deferred import DeferredLogs, DeferredLogsProcessor


class Context:
    def __repr__(self) -> str:
        return "Context()"


class Redact(logging.Filter):
    """A filter of the app's on its own handler, after the OTLP handler: rewrites and adds fields."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.msg = "REDACTED"
        record.args = None
        record.context = Context()
        return True


@pytest.fixture
def pipeline() -> Iterator[tuple[logging.Logger, LoggerProvider, InMemoryLogRecordExporter]]:
    deferred = DeferredLogs(DropReport(endpoint="test"), capacity=100, interval=60.0)
    provider = LoggerProvider(shutdown_on_exit=False)
    exporter = InMemoryLogRecordExporter()
    provider.add_log_record_processor(DeferredLogsProcessor(deferred))
    provider.add_log_record_processor(SimpleLogRecordProcessor(exporter))
    handler = LoggingHandler(logger_provider=provider)
    correlation.record_filter(handler).defer_to(deferred)
    console = logging.StreamHandler(io.StringIO())
    console.addFilter(Redact())
    logger = logging.getLogger(f"test.deferred.snapshot.{id(deferred)}")
    logger.propagate = False
    logger.setLevel(logging.DEBUG)
    logger.handlers[:] = [handler, console]  # the OTLP handler first: added before the app's own
    yield logger, provider, exporter
    logger.handlers[:] = []
    provider.shutdown()


def test_a_later_handler_changing_the_record_does_not_change_the_export(
    pipeline: tuple[logging.Logger, LoggerProvider, InMemoryLogRecordExporter],
    capsys: pytest.CaptureFixture[str],
) -> None:
    logger, provider, exporter = pipeline
    logger.info("user %s logged in", "bob")
    provider.force_flush()
    (record,) = exporter.get_finished_logs()
    assert record.log_record.body == "user bob logged in"
    assert "context" not in dict(record.log_record.attributes or {})
    # The object added later never reached the SDK: no "Invalid type" warning, no recursion line.
    assert "recursive logging" not in capsys.readouterr().err


def test_a_record_class_of_the_apps_own_is_copied_too(
    pipeline: tuple[logging.Logger, LoggerProvider, InMemoryLogRecordExporter],
) -> None:
    class AppRecord(logging.LogRecord):
        pass

    logger, provider, exporter = pipeline
    record = AppRecord(logger.name, logging.INFO, __file__, 1, "order %s", ("7",), None)
    logger.handle(record)
    assert record.msg == "REDACTED"  # the app's handler got the original
    provider.force_flush()
    (exported,) = exporter.get_finished_logs()
    assert exported.log_record.body == "order 7"
