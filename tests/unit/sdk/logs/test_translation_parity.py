"""Our translation exports what the contrib handler's own ``emit`` exported, field by field.

Two OTLP handlers on one logger, each with our capture filter and a capture queue of its
own: one replays records through the contrib ``LoggingHandler.emit`` (the path before
``otelbundle.sdk.logs.translation``), the other translates them with ours. Every kind
of record a logging call can make goes through both; the SDK records must be equal.
"""

from __future__ import annotations

import asyncio
import contextvars
import logging
import sys
import threading
import warnings
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from opentelemetry.instrumentation.logging.handler import LoggingHandler
from opentelemetry.sdk._logs import LoggerProvider, ReadableLogRecord
from opentelemetry.sdk._logs.export import InMemoryLogRecordExporter, SimpleLogRecordProcessor
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.sampling import ALWAYS_OFF
from opentelemetry.trace import SpanContext, TraceFlags

from otelbundle.sdk.export.report import DropReport
from otelbundle.sdk.logs import correlation
from otelbundle.sdk.logs import records as log_records
from otelbundle.sdk.logs.deferred import DeferredLogs, DeferredLogsProcessor
from otelbundle.sdk.logs.translation import RecordTranslator

RESOURCE = Resource.create({"service.name": "parity"})


@dataclass
class Side:
    provider: LoggerProvider
    exporter: InMemoryLogRecordExporter
    deferred: DeferredLogs
    handler: LoggingHandler

    def exported(self) -> tuple[ReadableLogRecord, ...]:
        self.provider.force_flush()
        return self.exporter.get_finished_logs()


def _side(code_attributes: bool, ours: bool) -> Side:
    provider = LoggerProvider(resource=RESOURCE, shutdown_on_exit=False)
    exporter = InMemoryLogRecordExporter()
    deferred = DeferredLogs(DropReport(endpoint="test"), capacity=1000, interval=60.0)
    provider.add_log_record_processor(DeferredLogsProcessor(deferred))
    provider.add_log_record_processor(SimpleLogRecordProcessor(exporter))
    handler = LoggingHandler(logger_provider=provider, log_code_attributes=code_attributes)
    translator = RecordTranslator(provider, handler, code_attributes=code_attributes) if ours else None
    correlation.record_filter(handler).defer_to(deferred, translator)
    return Side(provider, exporter, deferred, handler)


@dataclass
class Pair:
    logger: logging.Logger
    contrib: Side
    ours: Side

    def assert_same(self, expected_count: int) -> None:
        theirs, ours = self.contrib.exported(), self.ours.exported()
        assert len(theirs) == len(ours) == expected_count
        for before, after in zip(theirs, ours, strict=True):
            assert _fields(after) == _fields(before)


def _fields(exported: ReadableLogRecord) -> dict[str, Any]:
    record = exported.log_record
    scope = exported.instrumentation_scope
    assert record.observed_timestamp is not None
    return {
        "timestamp": record.timestamp,
        "trace_id": record.trace_id,
        "span_id": record.span_id,
        "trace_flags": record.trace_flags,
        "severity_number": record.severity_number,
        "severity_text": record.severity_text,
        "body": record.body,
        "attributes": list((record.attributes or {}).items()),  # order too: it is the wire's order
        "dropped_attributes": exported.dropped_attributes,
        "event_name": record.event_name,
        "scope": None if scope is None else (scope.name, scope.version, scope.schema_url, scope.attributes),
        "resource": exported.resource.attributes,
    }


def _pair(code_attributes: bool = False) -> Pair:
    contrib, ours = _side(code_attributes, ours=False), _side(code_attributes, ours=True)
    logger = logging.getLogger(f"test.parity.{id(contrib)}")
    logger.propagate = False
    logger.setLevel(1)
    logger.handlers[:] = [contrib.handler, ours.handler]
    return Pair(logger, contrib, ours)


@pytest.fixture
def pair() -> Iterator[Pair]:
    made = _pair()
    yield made
    made.logger.handlers[:] = []
    made.contrib.provider.shutdown()
    made.ours.provider.shutdown()


class Opaque:
    def __repr__(self) -> str:
        return "Opaque()"


class Unprintable:
    def __str__(self) -> str:
        raise RuntimeError("no text")


class UnprintableError(Exception):
    def __str__(self) -> str:
        raise RuntimeError("no text")


def _fail(message: object = "boom") -> None:
    raise ValueError(message)


def _caught() -> tuple[type[BaseException], BaseException, Any]:
    try:
        _fail()
    except ValueError:
        kind, value, trace = sys.exc_info()
        assert kind is not None and value is not None
        return kind, value, trace
    raise AssertionError("unreachable")


logging.addLevelName(25, "NOTICE")

# Each a kind of record: what the logging call looks like.
KINDS: dict[str, Callable[[logging.Logger], None]] = {
    "plain": lambda log: log.info("hello"),
    "percent args": lambda log: log.info("user %s took %d ms", "bob", 12),
    "mapping arg": lambda log: log.info("%(user)s in", {"user": "bob"}),
    "mutable args": lambda log: log.info("items %s", ["a", "b"]),
    "extra primitives": lambda log: log.info("x", extra={"s": "v", "i": 3, "f": 2.5, "b": True, "n": None}),
    "extra bytes": lambda log: log.info("x", extra={"raw": b"\x00\x01"}),
    "extra containers": lambda log: log.info(
        "x", extra={"tags": ["a", "b"], "pair": (1, 2), "meta": {"k": {"deep": [1, {"z": 2}]}}}
    ),
    "extra objects": lambda log: log.info("x", extra={"thing": Opaque(), "things": [Opaque()], "set": {1}}),
    "event name": lambda log: log.info("x", extra={"otel.event.name": "user.login", "user": "bob"}),
    "deprecated event name": lambda log: log.info("x", extra={"event.name": "old.name"}),
    "both event names": lambda log: log.info("x", extra={"otel.event.name": "new", "event.name": "old"}),
    "exception": lambda log: _log_exception(log),
    "exception without args": lambda log: _log_exception(log, ValueError()),
    "exception with a non-str arg": lambda log: _log_exception(log, KeyError(3)),
    "exc_info tuple": lambda log: log.error("given", exc_info=_caught()),
    "exc_info outside an exception": lambda log: log.error("none", exc_info=True),
    "stack_info": lambda log: log.warning("where", stack_info=True),
    "non-str message": lambda log: log.info({"event": "dict message"}),
    "object message": lambda log: log.info(Opaque()),
    "unicode": lambda log: log.info("héllo ✓ %s", "ünï"),
    "warning": lambda log: log.warning("w"),
    "critical": lambda log: log.critical("c"),
    "debug": lambda log: log.debug("d"),
    "custom level": lambda log: log.log(25, "notice"),
    "level below debug": lambda log: log.log(5, "trace-ish"),
    "level above critical": lambda log: log.log(60, "beyond"),
    "correlation fields": lambda log: log.info("x", extra={"otelTraceID": "0", "otelSpanID": "0"}),
    "bytes message": lambda log: log.info(b"raw \xff"),
    "None message": lambda log: log.info(None),
    "exception as message": lambda log: log.info(ValueError("as message")),
    "percent sign without args": lambda log: log.info("100% done, %d left"),
    "exc_info as an exception instance": lambda log: log.error("given", exc_info=_caught()[1]),
    "exc_info as an exception never raised": lambda log: log.error("bare", exc_info=ValueError("bare")),
    "chained exception": lambda log: _log_chained(log),
    "exception whose str raises": lambda log: _log_exception(log, UnprintableError("kept")),
    "exception with a container arg": lambda log: _log_exception(log, ValueError({"k": [1]}, "second")),
    "stack_info with an exception": lambda log: _log_exception(log, stack_info=True),
    "event name None, deprecated one set": lambda log: log.info(
        "x", extra={"otel.event.name": None, "event.name": "old"}
    ),
    "event name not a string": lambda log: log.info("x", extra={"otel.event.name": 7}),
    "attributes past the SDK's limit": lambda log: log.info("x", extra={f"k{n}": n for n in range(130)}),
    "level 0": lambda log: log.handle(log.makeRecord(log.name, 0, __file__, 1, "notset", (), None)),
    "unnamed level between standard ones": lambda log: log.log(35, "between"),
    "level far above critical": lambda log: log.log(1000, "far"),
    "from a thread of the app's": lambda log: _in_thread(lambda: log.info("from a thread")),
    "from an asyncio task": lambda log: _in_task(lambda: log.info("from a task")),
}


def _log_chained(log: logging.Logger) -> None:
    try:
        try:
            _fail("inner")
        except ValueError as inner:
            raise KeyError("outer") from inner
    except KeyError:
        log.exception("chained")


def _in_thread(call: Callable[[], None]) -> None:
    thread = threading.Thread(target=call)
    thread.start()
    thread.join()


def _in_task(call: Callable[[], None]) -> None:
    """``call`` in an asyncio task, on a thread of its own, in this context (the span, if any).

    Not on this thread: in a whole ``pytest tests`` run the e2e tier's Playwright (its sync
    API keeps an event loop marked running on the main thread for the session) comes first,
    and ``asyncio.run`` refuses to start beside a running loop."""

    async def task() -> None:
        call()

    context = contextvars.copy_context()
    failures: list[BaseException] = []

    def run() -> None:
        try:
            context.run(asyncio.run, task())
        except BaseException as error:  # re-raised on the test's thread
            failures.append(error)

    thread = threading.Thread(target=run)
    thread.start()
    thread.join()
    if failures:
        raise failures[0]


def _log_exception(log: logging.Logger, error: BaseException | None = None, stack_info: bool = False) -> None:
    try:
        if error is None:
            _fail()
        raise error
    except Exception:
        log.exception("failed", stack_info=stack_info)


@pytest.mark.parametrize("kind", sorted(KINDS))
def test_each_kind_of_record_outside_a_span(pair: Pair, kind: str) -> None:
    KINDS[kind](pair.logger)
    pair.assert_same(1)


@pytest.mark.parametrize("kind", sorted(KINDS))
def test_each_kind_of_record_in_a_span(pair: Pair, kind: str) -> None:
    with TracerProvider().get_tracer("t").start_as_current_span("request"):
        KINDS[kind](pair.logger)
    pair.assert_same(1)


def test_a_span_that_is_not_sampled(pair: Pair) -> None:
    with TracerProvider(sampler=ALWAYS_OFF).get_tracer("t").start_as_current_span("unsampled"):
        pair.logger.info("x")
    pair.assert_same(1)


def test_a_record_naming_a_request_whose_span_ended(pair: Pair) -> None:
    request = type("Request", (), {})()
    noted = SpanContext(0xABC, 0xDEF, is_remote=False, trace_flags=TraceFlags(1))
    setattr(request, log_records.REQUEST_SPAN_ATTRIBUTE, noted)
    pair.logger.error("Internal Server Error: /x", extra={"request": request, "status_code": 500})
    pair.assert_same(1)
    assert pair.ours.exported()[0].log_record.trace_id == 0xABC


def test_a_formatter_on_the_handler_makes_the_body(pair: Pair) -> None:
    for side in (pair.contrib, pair.ours):
        side.handler.setFormatter(logging.Formatter("%(levelname)s [%(name)s] %(message)s"))
    pair.logger.info("formatted %s", "line")
    _log_exception(pair.logger)
    pair.assert_same(2)


def test_a_record_factory_of_the_apps_own(pair: Pair) -> None:
    previous = logging.getLogRecordFactory()

    def factory(*args: Any, **kwargs: Any) -> logging.LogRecord:
        record = previous(*args, **kwargs)
        record.tenant = "acme"
        record.request_ids = ["r1"]
        return record

    logging.setLogRecordFactory(factory)
    try:
        pair.logger.info("from the factory", extra={"more": 1})
    finally:
        logging.setLogRecordFactory(previous)
    pair.assert_same(1)


def test_a_record_class_of_the_apps_own(pair: Pair) -> None:
    class AppRecord(logging.LogRecord):
        pass

    record = AppRecord(pair.logger.name, logging.INFO, __file__, 7, "own %s", ("class",), None)
    record.extra_field = "kept"
    pair.logger.handle(record)
    pair.assert_same(1)


def test_many_records_of_several_loggers_in_order(pair: Pair) -> None:
    children = [pair.logger.getChild(str(n)) for n in range(3)]
    for n in range(30):
        children[n % 3].info("line %d", n)
    pair.assert_same(30)


def test_code_attributes_when_asked_for() -> None:
    made = _pair(code_attributes=True)
    try:
        made.logger.info("with code")
        _log_exception(made.logger)
        made.assert_same(2)
        attributes = dict(made.ours.exported()[0].log_record.attributes or {})
        assert attributes["code.function.name"] == "test_code_attributes_when_asked_for"
    finally:
        made.logger.handlers[:] = []
        made.contrib.provider.shutdown()
        made.ours.provider.shutdown()


def test_a_level_name_changed_by_add_level_name(pair: Pair) -> None:
    logging.addLevelName(logging.INFO, "INFORMATION")
    try:
        pair.logger.info("renamed")
    finally:
        logging.addLevelName(logging.INFO, "INFO")
    pair.assert_same(1)
    assert pair.ours.exported()[0].log_record.severity_text == "INFORMATION"


def test_a_warning_captured_through_logging(pair: Pair) -> None:
    py_warnings = logging.getLogger("py.warnings")
    saved = py_warnings.handlers[:], py_warnings.propagate
    py_warnings.handlers[:], py_warnings.propagate = pair.logger.handlers[:], False
    logging.captureWarnings(True)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("always")
            warnings.warn("careful", UserWarning, stacklevel=1)
    finally:
        logging.captureWarnings(False)
        py_warnings.handlers[:], py_warnings.propagate = saved
    pair.assert_same(1)


def _unprintable_exception() -> tuple[type[BaseException], BaseException, Any]:
    try:
        raise ValueError(Unprintable())
    except ValueError:
        kind, value, trace = sys.exc_info()
        assert kind is not None and value is not None
        return kind, value, trace


# Records the handlers get straight (a handler on the logger would meet the same error at the call):
# message, args, exc_info, and the error both handlers report.
UNTRANSLATABLE: dict[str, tuple[str, tuple[Any, ...], Callable[[], Any], type[BaseException]]] = {
    "args that do not format": ("%d items", ("many",), lambda: None, TypeError),
    "more args than the format takes": ("%s", (1, 2), lambda: None, TypeError),
    "mutable args that do not format": ("%d items", (["many"],), lambda: None, TypeError),
    "an exception arg whose str raises": ("failed", (), _unprintable_exception, RuntimeError),
}


@pytest.mark.parametrize("kind", sorted(UNTRANSLATABLE))
def test_a_record_neither_can_translate_is_reported_by_both(
    pair: Pair, monkeypatch: pytest.MonkeyPatch, kind: str
) -> None:
    message, args, exc_info, error = UNTRANSLATABLE[kind]
    reported: dict[str, list[type[BaseException] | None]] = {"contrib": [], "ours": []}
    for name, side in (("contrib", pair.contrib), ("ours", pair.ours)):
        monkeypatch.setattr(
            side.handler, "handleError", lambda record, name=name: reported[name].append(sys.exc_info()[0])
        )
        side.handler.handle(
            pair.logger.makeRecord(pair.logger.name, logging.ERROR, __file__, 1, message, args, exc_info())
        )
    pair.assert_same(0)
    assert reported == {"contrib": [error], "ours": [error]}


def test_a_formatter_that_raises_is_reported_by_both(pair: Pair, monkeypatch: pytest.MonkeyPatch) -> None:
    class Raising(logging.Formatter):
        def format(self, record: logging.LogRecord) -> str:
            raise RuntimeError("formatter broke")

    reported: dict[str, list[type[BaseException] | None]] = {"contrib": [], "ours": []}
    for name, side in (("contrib", pair.contrib), ("ours", pair.ours)):
        side.handler.setFormatter(Raising())
        monkeypatch.setattr(
            side.handler, "handleError", lambda record, name=name: reported[name].append(sys.exc_info()[0])
        )
        side.handler.handle(
            pair.logger.makeRecord(pair.logger.name, logging.INFO, __file__, 1, "x", (), None)
        )
    pair.assert_same(0)
    assert reported == {"contrib": [RuntimeError], "ours": [RuntimeError]}
