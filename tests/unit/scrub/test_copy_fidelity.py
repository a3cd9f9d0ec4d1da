"""A scrubbed copy: made whenever any one part needs scrubbing, and equal to the original everywhere else.

Mutation testing found no test with a log record whose *only* secret was in its
body, event name, resource or scope (a copy skipped there exports the secret), nor
one that looked at what a copy keeps besides the scrubbed value: a link's context,
a status description, a resource's or scope's schema URL and version, the span's
attributes when only its name changed. It found the shutdown summary and the
description of a record left out untested too.
"""

from __future__ import annotations

from typing import Any

import pytest
from opentelemetry.sdk._logs import LoggerProvider, LogRecordLimits
from opentelemetry.sdk._logs.export import InMemoryLogRecordExporter, SimpleLogRecordProcessor
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import Link, SpanContext, Status, StatusCode, TraceFlags

from otelbundle.scrub import Scrubber, log_step, span_step
from otelbundle.sdk.export.wrapper import LOGS, SPANS, ExportWrapper, log_exporter, span_exporter

SECRET = "K3Y-SECRET"
URL = f"http://shop/stock/3?api_key={SECRET}&page=2"
SCRUBBED_URL = "http://shop/stock/3?api_key=REDACTED&page=2"
SCHEMA = "https://opentelemetry.io/schemas/1.26.0"


def _tracing(scrubber: Scrubber, **kwargs: Any) -> tuple[TracerProvider, InMemorySpanExporter]:
    provider = TracerProvider(**kwargs)
    out = InMemorySpanExporter()
    provider.add_span_processor(
        SimpleSpanProcessor(span_exporter(ExportWrapper(SPANS, out, prepare=span_step(scrubber))))
    )
    return provider, out


def _logging(
    scrubber: Scrubber, **kwargs: Any
) -> tuple[LoggerProvider, InMemoryLogRecordExporter, InMemoryLogRecordExporter]:
    """Both what the app holds (raw) and what leaves (out)."""
    provider = LoggerProvider(shutdown_on_exit=False, **kwargs)
    raw, out = InMemoryLogRecordExporter(), InMemoryLogRecordExporter()
    provider.add_log_record_processor(SimpleLogRecordProcessor(raw))
    provider.add_log_record_processor(
        SimpleLogRecordProcessor(log_exporter(ExportWrapper(LOGS, out, prepare=log_step(scrubber))))
    )
    return provider, raw, out


# ---- a log record with one secret in one place ----


def test_a_log_record_whose_only_secret_is_its_body_is_exported_scrubbed() -> None:
    provider, raw, out = _logging(Scrubber())
    provider.get_logger("t").emit(body=f"GET {URL}")
    (original,), (exported,) = raw.get_finished_logs(), out.get_finished_logs()
    assert exported.log_record.body == f"GET {SCRUBBED_URL}"
    assert original.log_record.body == f"GET {URL}"


def test_a_log_record_whose_only_secret_is_its_event_name_is_exported_scrubbed() -> None:
    provider, _, out = _logging(Scrubber())
    provider.get_logger("t").emit(body="clicked", event_name=f"visit {URL}")
    (exported,) = out.get_finished_logs()
    assert exported.log_record.event_name == f"visit {SCRUBBED_URL}"


def test_a_log_record_whose_only_secret_is_its_resource_is_exported_scrubbed() -> None:
    resource = Resource({"service.name": "shop", "process.command_line": "app --password=hunter2"}, SCHEMA)
    provider, _, out = _logging(Scrubber(), resource=resource)
    provider.get_logger("t").emit(body="started")
    (exported,) = out.get_finished_logs()
    assert exported.resource.attributes == {
        "service.name": "shop",
        "process.command_line": "app --password=REDACTED",
    }
    assert exported.resource.schema_url == SCHEMA


def test_a_log_record_whose_only_secret_is_its_scope_is_exported_scrubbed() -> None:
    provider, _, out = _logging(Scrubber())
    logger = provider.get_logger("t", "1.2", SCHEMA, attributes={"app.source": URL})
    logger.emit(body="started")
    (exported,) = out.get_finished_logs()
    scope = exported.instrumentation_scope
    assert scope is not None and scope.attributes == {"app.source": SCRUBBED_URL}
    assert (scope.name, scope.version, scope.schema_url) == ("t", "1.2", SCHEMA)


def test_a_scrubbed_log_copy_keeps_the_records_limits() -> None:
    limits = LogRecordLimits(max_attributes=5)
    provider, raw, out = _logging(Scrubber(), log_record_limits=limits)
    provider.get_logger("t").emit(body=URL)
    (original,), (exported,) = raw.get_finished_logs(), out.get_finished_logs()
    assert exported is not original and exported.limits is original.limits


# ---- a span copy keeps what was not scrubbed ----


def test_a_span_whose_only_secret_is_its_name_keeps_its_attributes_events_links_and_status() -> None:
    provider, out = _tracing(Scrubber())
    linked = SpanContext(0x1, 0x2, is_remote=True, trace_flags=TraceFlags(1))
    with provider.get_tracer("t").start_as_current_span(
        f"GET {URL}", links=[Link(linked, {"app.kind": "retry"})], attributes={"app.page": 2}
    ) as span:
        span.add_event("cache miss", {"app.key": "k"})
        span.set_status(Status(StatusCode.ERROR, "timed out"))
    (exported,) = out.get_finished_spans()
    assert exported.name == f"GET {SCRUBBED_URL}"
    assert dict(exported.attributes or {}) == {"app.page": 2}
    assert [(e.name, dict(e.attributes or {})) for e in exported.events] == [("cache miss", {"app.key": "k"})]
    assert [(link.context, dict(link.attributes or {})) for link in exported.links] == [
        (linked, {"app.kind": "retry"})
    ]
    assert (exported.status.status_code, exported.status.description) == (StatusCode.ERROR, "timed out")


def test_a_link_whose_attributes_are_scrubbed_keeps_its_context() -> None:
    provider, out = _tracing(Scrubber())
    linked = SpanContext(0x1, 0x2, is_remote=True, trace_flags=TraceFlags(1))
    with provider.get_tracer("t").start_as_current_span("s", links=[Link(linked, {"link.url": URL})]):
        pass
    ((link,),) = [exported.links for exported in out.get_finished_spans()]
    assert link.context == linked and dict(link.attributes or {}) == {"link.url": SCRUBBED_URL}


def test_an_error_status_keeps_its_description_scrubbed() -> None:
    provider, out = _tracing(Scrubber())
    with provider.get_tracer("t").start_as_current_span("s") as span:
        span.set_status(Status(StatusCode.ERROR, f"401 for url: {URL}"))
    (exported,) = out.get_finished_spans()
    assert (exported.status.status_code, exported.status.description) == (
        StatusCode.ERROR,
        f"401 for url: {SCRUBBED_URL}",
    )


def test_a_scrubbed_resource_and_scope_keep_their_schema_url_and_version() -> None:
    resource = Resource({"service.name": "shop", "process.command_line": "app --password=hunter2"}, SCHEMA)
    provider, out = _tracing(Scrubber(), resource=resource)
    tracer = provider.get_tracer("t", "1.2", SCHEMA, attributes={"app.source": URL})
    with tracer.start_as_current_span("s"):
        pass
    (exported,) = out.get_finished_spans()
    assert exported.resource.attributes["process.command_line"] == "app --password=REDACTED"
    assert exported.resource.schema_url == SCHEMA
    scope = exported.instrumentation_scope
    assert scope is not None and scope.attributes == {"app.source": SCRUBBED_URL}
    assert (scope.name, scope.version, scope.schema_url) == ("t", "1.2", SCHEMA)


def test_a_span_named_by_its_sql_statement_loses_the_literals_in_its_name() -> None:
    provider, out = _tracing(Scrubber())
    statement = "SELECT * FROM users WHERE email = 'bob@example.com' AND id = 7"
    with provider.get_tracer("t").start_as_current_span(statement, attributes={"db.system": "postgresql"}):
        pass
    (exported,) = out.get_finished_spans()
    assert exported.name == "SELECT * FROM users WHERE email = ? AND id = ?"


# ---- what is said about records left out ----


def test_a_span_left_out_is_named_in_the_failure_report() -> None:
    class Broken(ReadableSpan):
        @property
        def attributes(self) -> Any:
            raise RuntimeError("broken span")

    failures: list[str] = []
    copies = span_step(Scrubber(on_failure=failures.append))([Broken("checkout"), ReadableSpan("good")])
    assert [span.name for span in copies] == ["good"]
    assert failures == ["span 'checkout' not exported: RuntimeError: broken span"]


def test_a_log_record_left_out_is_described_and_the_rest_of_the_batch_goes_on() -> None:
    provider, raw, _ = _logging(Scrubber())
    provider.get_logger("t").emit(body="good")
    (good,) = raw.get_finished_logs()
    failures: list[str] = []
    scrubber = Scrubber(on_failure=failures.append)
    unreadable: Any = object()
    assert log_step(scrubber)([unreadable, good]) == [good]
    assert scrubber.stats.dropped_records == 1
    assert len(failures) == 1 and failures[0].startswith("a log record not exported: AttributeError: "), (
        failures
    )


@pytest.mark.parametrize("failed", [True, False])
def test_shutdown_says_the_summary_once_when_anything_failed(
    capsys: pytest.CaptureFixture[str], failed: bool
) -> None:
    def hook(where: str, value: str) -> str:
        if failed and where == "app.note":
            raise RuntimeError("boom")
        return value

    provider, out = _tracing(Scrubber(hook=hook))
    with provider.get_tracer("t").start_as_current_span("s") as span:
        span.set_attribute("app.note", "x")
    provider.shutdown()
    assert len(out.get_finished_spans()) == 1
    summary = (
        "otelbundle: scrubbing failed for 1 values (replaced by 'REDACTED (scrubbing failed)') "
        "and 0 records (not exported)."
    )
    assert capsys.readouterr().err.splitlines() == ([f"WARNING {summary}"] if failed else [])
