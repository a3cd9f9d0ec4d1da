"""The rule for `extra` values the OTLP handler cannot take, and the filter that applies it."""

from __future__ import annotations

import logging
from collections.abc import Iterator

import pytest
from opentelemetry import trace
from opentelemetry.instrumentation.logging.handler import LoggingHandler
from opentelemetry.sdk._logs import LoggerProvider
from opentelemetry.sdk._logs.export import InMemoryLogRecordExporter, SimpleLogRecordProcessor
from opentelemetry.trace import SpanContext, TraceFlags

from otelbundle.config import env_checks
from otelbundle.sdk.logs import correlation as logs
from otelbundle.sdk.logs import records as log_records
from otelbundle.sdk.logs.records import MAX_DEPTH, MAX_ITEMS, MAX_VALUE_CHARS, exportable


class Opaque:
    def __repr__(self) -> str:
        return "Opaque()"


class Broken:
    def __repr__(self) -> str:
        raise RuntimeError("no repr")


def test_primitives_pass_unchanged() -> None:
    for value in ("s", b"b", True, 3, 2.5, None):
        assert exportable(value) is value


def test_objects_become_their_repr_cut_to_the_cap() -> None:
    assert exportable(Opaque()) == "Opaque()"
    assert exportable([Opaque()]) == ["Opaque()"]  # containers keep their shape
    cut = exportable(type("Long", (), {"__repr__": lambda self: "y" * 1000})())
    assert len(cut) == MAX_VALUE_CHARS and cut.endswith("…")
    assert exportable(Broken()) == f"<{__name__}.Broken>"
    assert exportable({1, 2}) == "{1, 2}"


def test_containers_convert_items_and_keys_and_end_at_the_depth_cap() -> None:
    assert exportable({"a": Opaque(), 3: "three", "": "dropped"}) == {"a": "Opaque()", "3": "three"}
    loop: list[object] = []
    loop.append(loop)
    nested = exportable(loop)
    for _ in range(MAX_DEPTH):
        nested = nested[0]
    assert nested == "[[...]]"


def test_a_value_keeps_max_items_in_all_and_says_how_many_it_left_out() -> None:
    ids = list(range(100_000))
    cut = exportable(ids)
    assert cut[:MAX_ITEMS] == ids[:MAX_ITEMS] and len(cut) == MAX_ITEMS + 1
    assert cut[-1] == f"… {100_000 - MAX_ITEMS} more items not exported"
    # the budget is the whole value's, however nested: 4 items a key (the key and its 3)
    by_key = exportable({f"k{i}": [1, 2, 3] for i in range(600)})
    kept = [key for key in by_key if key != "…"]
    assert len(kept) == MAX_ITEMS // 4 and by_key["…"] == f"{600 - MAX_ITEMS // 4} more entries not exported"
    assert exportable(ids[:MAX_ITEMS]) == ids[:MAX_ITEMS]  # at the bound: all of it


def test_a_list_past_the_bound_is_cut_on_the_inline_path_too() -> None:
    """Without the deferral a list of numbers needs no conversion, except past the bound."""
    record = logging.LogRecord("t", logging.INFO, __file__, 1, "x", None, None)
    record.small, record.huge = list(range(10)), list(range(MAX_ITEMS + 1))
    changed = log_records.conversions(record)
    assert list(changed) == ["huge"] and changed["huge"][-1] == "… 1 more items not exported"


@pytest.fixture
def pipeline() -> Iterator[tuple[logging.Logger, InMemoryLogRecordExporter, list[logging.LogRecord]]]:
    """A real contrib OTLP handler with our filter, next to a handler that keeps the originals."""
    exporter = InMemoryLogRecordExporter()
    provider = LoggerProvider()
    provider.add_log_record_processor(SimpleLogRecordProcessor(exporter))
    handler = LoggingHandler(logger_provider=provider)
    assert logs.attach_record_filter(handler) and not logs.attach_record_filter(handler)
    seen: list[logging.LogRecord] = []

    class Keep(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            seen.append(record)

    logger = logging.getLogger("test_log_records")
    logger.propagate = False
    logger.setLevel(logging.INFO)
    logger.handlers = [handler, Keep()]
    yield logger, exporter, seen
    logger.handlers = []
    provider.shutdown()


def test_objects_in_extra_export_without_sdk_warnings_and_other_handlers_keep_them(
    pipeline: tuple[logging.Logger, InMemoryLogRecordExporter, list[logging.LogRecord]],
    caplog: pytest.LogCaptureFixture,
) -> None:
    logger, exporter, seen = pipeline
    thing = Opaque()
    with caplog.at_level(logging.DEBUG, logger="opentelemetry"):
        logger.info("hello", extra={"thing": thing, "count": 2, "nested": {"k": [thing]}})
    assert [r.getMessage() for r in caplog.records if r.name.startswith("opentelemetry")] == []
    (exported,) = exporter.get_finished_logs()
    attributes = dict(exported.log_record.attributes or {})
    assert attributes["thing"] == "Opaque()" and attributes["count"] == 2
    assert attributes["nested"] == {"k": ("Opaque()",)}
    assert seen[0].thing is thing  # the console, mail_admins… still get the object


def test_a_record_naming_a_request_whose_span_ended_joins_that_span(
    pipeline: tuple[logging.Logger, InMemoryLogRecordExporter, list[logging.LogRecord]],
) -> None:
    logger, exporter, _ = pipeline
    noted = SpanContext(0xABC, 0xDEF, is_remote=False, trace_flags=TraceFlags(1))
    request = type("Request", (), {})()
    setattr(request, log_records.REQUEST_SPAN_ATTRIBUTE, noted)
    logger.error("Internal Server Error: /x", extra={"request": request, "status_code": 500})
    (exported,) = exporter.get_finished_logs()
    assert (exported.log_record.trace_id, exported.log_record.span_id) == (0xABC, 0xDEF)
    # Inside a live span the live span wins.
    with trace.use_span(trace.NonRecordingSpan(SpanContext(0x1, 0x2, False, TraceFlags(1)))):
        logger.error("in a span", extra={"request": request})
    assert exporter.get_finished_logs()[1].log_record.trace_id == 0x1


@pytest.mark.parametrize(
    ("value", "options", "problems"),
    [
        ("fields", {"inject_trace_context": True}, 0),
        ("FIELDS ", {"inject_trace_context": True}, 0),
        ("false", {}, 0),
        ("maybe", {}, 1),
    ],
)
def test_log_correlation_fields_is_a_valid_third_value(
    value: str, options: dict[str, object], problems: int
) -> None:
    env = {"OTELBUNDLE_LOG_CORRELATION": value}
    assert len(env_checks.invalid_values(env)) == problems
    assert logs.instrumentor_options(env) == options
