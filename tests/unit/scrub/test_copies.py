"""The exporter wrappers: scrubbed copies reach the exporter, the app's own objects stay as they were."""

from __future__ import annotations

from types import MappingProxyType
from typing import Any

import pytest
from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans
from opentelemetry.sdk._logs import LoggerProvider, LogRecordLimits
from opentelemetry.sdk._logs.export import (
    InMemoryLogRecordExporter,
    LogRecordExporter,
    SimpleLogRecordProcessor,
)
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import ReadableSpan, SpanLimits, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor, SpanExporter
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import Link, SpanContext, Status, StatusCode, TraceFlags

from otelbundle.scrub import FAILED_MARKER, Scrubber, log_step, span_step
from otelbundle.sdk.export.resource_once import HashedResource
from otelbundle.sdk.export.wrapper import LOGS, SPANS, ExportWrapper, log_exporter, span_exporter

URL = "http://shop/stock/3?api_key=K3Y-SECRET&page=2"


def _scrubbing_spans(inner: SpanExporter, scrubber: Scrubber) -> SpanExporter:
    """The export wrapper with only its scrubbing step, as the configurator builds it (minus counting)."""
    return span_exporter(ExportWrapper(SPANS, inner, prepare=span_step(scrubber)))


def _scrubbing_logs(inner: LogRecordExporter, scrubber: Scrubber) -> LogRecordExporter:
    return log_exporter(ExportWrapper(LOGS, inner, prepare=log_step(scrubber)))


def _tracing(
    scrubber: Scrubber, **kwargs: Any
) -> tuple[TracerProvider, InMemorySpanExporter, InMemorySpanExporter]:
    """A provider exporting both unscrubbed (what the app holds) and scrubbed (what leaves)."""
    provider = TracerProvider(**kwargs)
    raw, scrubbed = InMemorySpanExporter(), InMemorySpanExporter()
    provider.add_span_processor(SimpleSpanProcessor(raw))
    provider.add_span_processor(SimpleSpanProcessor(_scrubbing_spans(scrubbed, scrubber)))
    return provider, raw, scrubbed


def test_spans_attributes_events_status_and_resource_are_scrubbed_in_a_copy() -> None:
    resource = Resource.create({"process.command_line": "app --password=hunter2", "service.name": "shop"})
    provider, raw, out = _tracing(Scrubber(), resource=resource)
    with provider.get_tracer("t").start_as_current_span("GET " + URL) as span:
        span.set_attribute("url.full", URL)
        span.set_attribute("http.request.header.authorization", ("Bearer abcdefghij",))
        span.set_attribute("http.response.status_code", 401)
        span.add_event(
            "exception", {"exception.message": f"401 for url: {URL}", "exception.type": "HTTPError"}
        )
        span.set_status(Status(StatusCode.ERROR, f"HTTPError: 401 for url: {URL}"))
    (original,), (exported,) = raw.get_finished_spans(), out.get_finished_spans()
    assert exported is not original
    text = repr(
        (exported.name, exported.attributes, exported.events[0].attributes, exported.status.description)
    )
    assert "K3Y-SECRET" not in text and "abcdefghij" not in text
    assert exported.attributes is not None
    assert exported.attributes["url.full"] == "http://shop/stock/3?api_key=REDACTED&page=2"
    assert exported.attributes["http.request.header.authorization"] == "****"
    assert exported.attributes["http.response.status_code"] == 401
    assert exported.events[0].attributes == {
        "exception.message": "401 for url: http://shop/stock/3?api_key=REDACTED&page=2",
        "exception.type": "HTTPError",
    }
    assert exported.status.status_code is StatusCode.ERROR
    assert exported.resource.attributes["process.command_line"] == "app --password=REDACTED"
    assert exported.context == original.context and exported.start_time == original.start_time
    # The app's span is untouched.
    assert original.attributes is not None and original.attributes["url.full"] == URL
    assert original.resource.attributes["process.command_line"] == "app --password=hunter2"


def test_a_span_with_nothing_to_scrub_is_passed_on_as_it_is() -> None:
    provider, raw, out = _tracing(Scrubber())
    with provider.get_tracer("t").start_as_current_span("GET /stock/<id>") as span:
        span.set_attribute("url.full", "http://shop/stock/3?page=2")
    assert out.get_finished_spans()[0] is raw.get_finished_spans()[0]


def test_drop_counts_survive_the_copy() -> None:
    provider, _, out = _tracing(Scrubber(), span_limits=SpanLimits(max_span_attributes=2, max_events=1))
    with provider.get_tracer("t").start_as_current_span("s") as span:
        for i in range(4):
            span.set_attribute(f"a{i}", f"x?token=t{i}")
        span.add_event("e1")
        span.add_event("e2")
    exported = out.get_finished_spans()[0]
    assert exported.attributes == {"a2": "x?token=REDACTED", "a3": "x?token=REDACTED"}
    assert (exported.dropped_attributes, exported.dropped_events) == (2, 1)


def test_copies_hold_plain_values_and_keep_event_link_and_log_drop_counts() -> None:
    """The scrubbed values are clean already: no second BoundedAttributes, the counts as they were."""
    limits = SpanLimits(max_event_attributes=1, max_link_attributes=1)
    provider, _, out = _tracing(Scrubber(), span_limits=limits)
    linked = SpanContext(0x1, 0x2, is_remote=True, trace_flags=TraceFlags(1))
    link = Link(linked, {"drop.me": 1, "link.url": URL})
    with provider.get_tracer("t").start_as_current_span("s", links=[link]) as span:
        span.set_attribute("url.full", URL)
        span.add_event("exception", {"dropped": 1, "exception.message": URL})
    (exported,) = out.get_finished_spans()
    assert type(exported.attributes) is MappingProxyType and exported.dropped_attributes == 0
    assert exported.events[0].attributes == {"exception.message": URL.replace("K3Y-SECRET", "REDACTED")}
    assert type(exported.events[0].attributes) is dict and exported.events[0].dropped_attributes == 1
    assert exported.links[0].attributes == {"link.url": URL.replace("K3Y-SECRET", "REDACTED")}
    assert exported.links[0].dropped_attributes == 1

    log_provider = LoggerProvider(log_record_limits=LogRecordLimits(max_attributes=1))
    scrubbed = InMemoryLogRecordExporter()
    log_provider.add_log_record_processor(SimpleLogRecordProcessor(_scrubbing_logs(scrubbed, Scrubber())))
    log_provider.get_logger("t").emit(body="x", attributes={"n": 1, "url.full": URL})  # n is dropped
    (record,) = scrubbed.get_finished_logs()
    assert record.dropped_attributes == 1 and type(record.log_record.attributes) is dict


def test_with_hashed_resources_every_span_is_a_copy_that_encodes_as_the_original() -> None:
    exporter = InMemorySpanExporter()
    provider = TracerProvider(resource=Resource.create({"service.name": "shop"}))
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    with provider.get_tracer("t").start_as_current_span("GET /stock/<id>") as span:
        span.set_attribute("url.full", "http://shop/stock/3?page=2")
    spans = list(exporter.get_finished_spans())
    copies = span_step(Scrubber(), hash_resources=True)(spans)
    assert copies[0] is not spans[0] and type(copies[0].resource) is HashedResource
    assert encode_spans(copies).SerializeToString() == encode_spans(spans).SerializeToString()


def test_a_failing_hook_leaves_the_marker_and_is_counted() -> None:
    failures: list[str] = []

    def hook(where: str, value: str) -> str:
        if where == "app.note":
            raise RuntimeError("boom")
        return value

    scrubber = Scrubber(hook=hook, on_failure=failures.append)
    provider, _, out = _tracing(scrubber)
    with provider.get_tracer("t").start_as_current_span("s") as span:
        span.set_attribute("app.note", "K3Y-SECRET")
        span.set_attribute("app.other", "fine")
    exported = out.get_finished_spans()[0]
    assert exported.attributes == {"app.note": FAILED_MARKER, "app.other": "fine"}
    assert scrubber.stats.failed_values == 1
    assert failures == ["app.note: RuntimeError: boom"]
    assert scrubber.summary() is not None and scrubber.summary() is None  # said once


def test_a_span_that_cannot_be_copied_is_left_out_not_exported_unscrubbed() -> None:
    class Broken(ReadableSpan):
        @property
        def attributes(self) -> Any:
            raise RuntimeError("broken span")

    scrubber = Scrubber()
    inner = InMemorySpanExporter()
    exporter = _scrubbing_spans(inner, scrubber)
    good = ReadableSpan("good", attributes={"url.full": URL})
    exporter.export([Broken("broken"), good])
    (exported,) = inner.get_finished_spans()
    assert exported.name == "good" and exported.attributes == {
        "url.full": URL.replace("K3Y-SECRET", "REDACTED")
    }
    assert scrubber.stats.dropped_records == 1


def test_allowed_keys_and_extra_rules() -> None:
    scrubber = Scrubber(
        allowed_keys=["app.token_count"],
        extra_param_names=["session_key"],
        extra_patterns=[r"(card=)\d{12,19}", r"INTERNAL-\d+"],
    )
    assert scrubber.attributes({"app.token_count": "5", "app.token_kind": "x"}) == {
        "app.token_count": "5",  # allowed: a credential-like name kept as it is
        "app.token_kind": "****",
    }
    assert scrubber.text("/p?session_key=abc&page=2") == "/p?session_key=REDACTED&page=2"
    assert scrubber.text("paid card=4111111111111111 ref INTERNAL-42") == "paid card=REDACTED ref REDACTED"


def _logging(
    scrubber: Scrubber,
) -> tuple[LoggerProvider, InMemoryLogRecordExporter, InMemoryLogRecordExporter]:
    provider = LoggerProvider(resource=Resource.create({"service.name": "shop"}))
    raw, scrubbed = InMemoryLogRecordExporter(), InMemoryLogRecordExporter()
    provider.add_log_record_processor(SimpleLogRecordProcessor(raw))
    provider.add_log_record_processor(SimpleLogRecordProcessor(_scrubbing_logs(scrubbed, scrubber)))
    return provider, raw, scrubbed


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        ("connected with password=hunter2", "connected with password=REDACTED"),
        (
            {"msg": f"GET {URL}", "password": "hunter2", "nested": [{"url": URL}]},
            {
                "msg": "GET http://shop/stock/3?api_key=REDACTED&page=2",
                "password": "****",
                "nested": [{"url": "http://shop/stock/3?api_key=REDACTED&page=2"}],
            },
        ),
    ],
)
def test_log_bodies_and_attributes_are_scrubbed_in_a_copy(body: Any, expected: Any) -> None:
    provider, raw, out = _logging(Scrubber())
    provider.get_logger("t").emit(body=body, attributes={"exception.message": f"failed: {URL}", "n": 1})
    (original,), (exported,) = raw.get_finished_logs(), out.get_finished_logs()
    assert exported.log_record.body == expected
    assert exported.log_record.attributes == {
        "exception.message": "failed: http://shop/stock/3?api_key=REDACTED&page=2",
        "n": 1,
    }
    assert original.log_record.body == body
    assert original.log_record.attributes is not None
    assert original.log_record.attributes["exception.message"] == f"failed: {URL}"
    assert exported.log_record.trace_id == original.log_record.trace_id
    assert exported.resource is original.resource


def test_sql_statements_lose_their_literals_only_on_sql_spans() -> None:
    scrubber = Scrubber()
    statement = "SELECT * FROM users WHERE password = 'hunter2' AND id = 7"
    sql = scrubber.attributes({"db.system": "sqlite", "db.statement": statement})
    assert sql == {
        "db.system": "sqlite",
        "db.statement": "SELECT * FROM users WHERE password = REDACTED AND id = ?",
    }
    other = scrubber.attributes({"db.system": "redis", "db.statement": "GET 42"})
    assert other is None  # not SQL: left for its own instrumentation's sanitiser
