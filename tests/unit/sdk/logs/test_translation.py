"""The distro's OTLP handler's records translated by otelbundle on the translator thread: one SDK logger
per name, the handler's other filters and formatter honoured, failures reported as a handler reports
them, records logged while translating handled inline, and only the instrumentor's handler translated so."""

from __future__ import annotations

import logging
import sys
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from opentelemetry.instrumentation.logging.handler import LoggingHandler
from opentelemetry.sdk._logs import LoggerProvider, LogRecordProcessor, ReadWriteLogRecord
from opentelemetry.sdk._logs.export import InMemoryLogRecordExporter, SimpleLogRecordProcessor
from opentelemetry.trace import SpanContext, TraceFlags

from otelbundle.sdk.export.report import DropReport
from otelbundle.sdk.logs import correlation, translation
from otelbundle.sdk.logs import records as log_records
from otelbundle.sdk.logs.deferred import DeferredLogs, DeferredLogsProcessor
from otelbundle.sdk.logs.translation import RecordTranslator


class CountingProvider(LoggerProvider):
    """The SDK's provider, counting what it is asked for (a public method, overridden)."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.asked: list[str] = []

    def get_logger(self, name: str, *args: Any, **kwargs: Any) -> Any:
        self.asked.append(name)
        return super().get_logger(name, *args, **kwargs)


class LogsWhileTranslating(LogRecordProcessor):
    """Logs one line of its own while the first record is emitted (as SDK code may, on that thread)."""

    def __init__(self, logger: logging.Logger) -> None:
        self.logger = logger
        self.done = False

    def on_emit(self, log_record: ReadWriteLogRecord) -> None:
        if not self.done:
            self.done = True
            self.logger.warning("logged while translating")

    def shutdown(self) -> None:
        return None

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        return True


@dataclass
class Setup:
    logger: logging.Logger
    provider: CountingProvider
    exporter: InMemoryLogRecordExporter
    deferred: DeferredLogs
    handler: LoggingHandler

    def bodies(self) -> list[str]:
        self.provider.force_flush()
        return [str(r.log_record.body) for r in self.exporter.get_finished_logs()]


@pytest.fixture
def setup() -> Iterator[Setup]:
    deferred = DeferredLogs(DropReport(endpoint="test"), capacity=100, interval=60.0)
    provider = CountingProvider(shutdown_on_exit=False)
    exporter = InMemoryLogRecordExporter()
    provider.add_log_record_processor(DeferredLogsProcessor(deferred))
    provider.add_log_record_processor(SimpleLogRecordProcessor(exporter))
    handler = LoggingHandler(logger_provider=provider)
    correlation.record_filter(handler).defer_to(deferred, RecordTranslator(provider, handler))
    logger = logging.getLogger(f"test.translation.{id(deferred)}")
    logger.propagate = False
    logger.setLevel(logging.DEBUG)
    logger.handlers[:] = [handler]
    yield Setup(logger, provider, exporter, deferred, handler)
    logger.handlers[:] = []
    provider.shutdown()


def test_the_provider_is_asked_once_per_logger_name(setup: Setup) -> None:
    child = setup.logger.getChild("db")
    for n in range(5):
        setup.logger.info("a%d", n)
        child.info("b%d", n)
    assert setup.bodies() == [f"{c}{n}" for n in range(5) for c in "ab"]
    assert setup.provider.asked == [setup.logger.name, child.name]
    scopes = {
        r.instrumentation_scope.name for r in setup.exporter.get_finished_logs() if r.instrumentation_scope
    }
    assert scopes == {setup.logger.name, child.name}


def test_past_the_kept_loggers_the_provider_is_asked_each_time(
    setup: Setup, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(translation, "MAX_KEPT_LOGGERS", 2)
    names = [setup.logger.getChild(str(n)) for n in range(3)]
    for _ in range(2):
        for logger in names:
            logger.info(logger.name)
    assert setup.bodies() == [logger.name for logger in names] * 2
    assert setup.provider.asked == [names[0].name, names[1].name, names[2].name, names[2].name]


def test_a_disabled_sdk_gets_nothing_and_raises_nothing(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OTEL_SDK_DISABLED", "true")
    provider = LoggerProvider(shutdown_on_exit=False)
    exporter = InMemoryLogRecordExporter()
    provider.add_log_record_processor(SimpleLogRecordProcessor(exporter))
    handler = LoggingHandler(logger_provider=provider)
    RecordTranslator(provider, handler).emit(logging.LogRecord("x", logging.INFO, __file__, 1, "m", (), None))
    assert exporter.get_finished_logs() == ()


def test_other_filters_run_once_on_the_translator_and_the_request_span_is_joined(setup: Setup) -> None:
    where: list[str] = []

    def note(record: logging.LogRecord) -> bool:
        where.append(threading.current_thread().name)
        return record.getMessage() != "hidden"

    setup.handler.addFilter(note)
    request = type("Request", (), {})()
    setattr(request, log_records.REQUEST_SPAN_ATTRIBUTE, SpanContext(0xABC, 0xDEF, False, TraceFlags(1)))
    setup.logger.info("shown", extra={"request": request})
    setup.logger.info("hidden")
    assert where == []
    drained = threading.Thread(target=setup.deferred.drain, name="drainer")
    drained.start()
    drained.join()
    assert where == ["drainer", "drainer"]
    assert setup.bodies() == ["shown"]
    (record,) = setup.exporter.get_finished_logs()
    assert (record.log_record.trace_id, record.log_record.span_id) == (0xABC, 0xDEF)


def test_a_formatter_given_to_the_handler_later_makes_the_body(setup: Setup) -> None:
    setup.logger.info("plain")
    setup.provider.force_flush()
    setup.handler.setFormatter(logging.Formatter("%(levelname)s %(message)s"))
    setup.logger.info("formatted")
    assert setup.bodies() == ["plain", "INFO formatted"]


def test_a_bad_format_does_not_reach_the_caller_and_is_reported(
    setup: Setup, monkeypatch: pytest.MonkeyPatch
) -> None:
    reported: list[tuple[str, type[BaseException] | None]] = []
    monkeypatch.setattr(
        setup.handler, "handleError", lambda record: reported.append((record.msg, sys.exc_info()[0]))
    )
    bad = logging.LogRecord(setup.logger.name, logging.INFO, __file__, 1, "%d items", ("many",), None)
    setup.handler.handle(bad)
    setup.logger.info("next")
    assert setup.bodies() == ["next"]
    assert reported == [("%d items", TypeError)]


def test_a_record_logged_while_translating_is_exported_inline_once(setup: Setup) -> None:
    setup.provider.add_log_record_processor(LogsWhileTranslating(setup.logger))
    setup.logger.info("first")
    setup.logger.info("second")
    # The nested line is translated where it is logged, inside the first one's translation (the
    # contrib's emit, whose recursion guard stops a third level), and is not queued again.
    assert setup.bodies() == ["first", "logged while translating", "second"]


def test_only_the_handler_the_instrumentor_added_is_translated_by_us(monkeypatch: pytest.MonkeyPatch) -> None:
    root = logging.getLogger()
    apps_own = LoggingHandler(logger_provider=LoggerProvider(shutdown_on_exit=False))
    installed = LoggingHandler()
    monkeypatch.setattr(root, "handlers", [*root.handlers, apps_own])
    before = list(root.handlers)
    root.handlers.append(installed)  # what instrument() does
    monkeypatch.setattr(correlation, "_installed", None)
    noted = correlation.note_installed_handler(before, {}, {"OTEL_PYTHON_LOG_CODE_ATTRIBUTES": " TRUE "})
    assert noted is not None and noted.handler is installed and noted.code_attributes
    assert isinstance(correlation.translator_for(installed), RecordTranslator)
    assert correlation.translator_for(apps_own) is None
    noted = correlation.note_installed_handler(before, {"log_code_attributes": False}, {})
    assert noted is not None and not noted.code_attributes  # the instrumentor's option wins, as there
