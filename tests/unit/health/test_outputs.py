"""Gauges (in-memory reader), state-change logs and sinks, and the synthetic spans for alerting."""

from __future__ import annotations

import logging

import pytest
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import ReadableSpan, SpanProcessor
from opentelemetry.trace import SpanKind, StatusCode

from otelbundle.health import outputs as outputs_module
from otelbundle.health.model import CheckResult, Status
from otelbundle.health.outputs import HealthOutputs, register_sink, unregister_sink
from otelbundle.health.spans import SpanProcessorSink, result_span


def result(name: str, status: Status, message: str = "m", kind: str = "tcp") -> CheckResult:
    return CheckResult(name, kind, status, message, 0.25, 1_000_000_000, 1_250_000_000, {})


class Source:
    def __init__(self) -> None:
        self.items: list[CheckResult] = []
        self.skips: dict[str, int] = {}

    def results(self) -> list[CheckResult]:
        return self.items

    def skipped(self) -> dict[str, int]:
        return self.skips


def collect(reader: InMemoryMetricReader) -> dict[str, list[tuple[dict[str, object], float]]]:
    data = reader.get_metrics_data()
    out: dict[str, list[tuple[dict[str, object], float]]] = {}
    if data is None:
        return out
    for rm in data.resource_metrics:
        for sm in rm.scope_metrics:
            for metric in sm.metrics:
                out[metric.name] = [(dict(p.attributes or {}), p.value) for p in metric.data.data_points]  # type: ignore[union-attr]
    return out


def test_gauges_report_the_latest_results_and_the_worst_overall() -> None:
    reader = InMemoryMetricReader()
    outputs = HealthOutputs(MeterProvider(metric_readers=[reader]))
    source = Source()
    outputs.attach(source)
    source.items = [result("db", Status.HEALTHY, kind="sql"), result("cache", Status.DEGRADED)]
    source.skips = {"db": 2, "cache": 0}
    metrics = collect(reader)
    assert sorted(metrics["otelbundle.health.check.status"], key=lambda p: str(p[0])) == [
        ({"health.check.name": "cache", "health.check.kind": "tcp"}, 0.5),
        ({"health.check.name": "db", "health.check.kind": "sql"}, 1.0),
    ]
    assert metrics["otelbundle.health.check.duration"][0][1] == 0.25
    assert metrics["otelbundle.health.status"] == [({}, 0.5)]
    assert ({"health.check.name": "db", "health.check.kind": "sql"}, 2) in metrics[
        "otelbundle.health.check.skipped"
    ]
    outputs.attach(None)  # uninstrumented: nothing reported any more
    assert collect(reader).get("otelbundle.health.check.status", []) == []


def test_one_log_record_per_state_change_with_severity_by_state(caplog: pytest.LogCaptureFixture) -> None:
    outputs = HealthOutputs(MeterProvider())
    caplog.set_level(logging.INFO, logger=outputs_module.LOGGER_NAME)
    for status, message in [
        (Status.HEALTHY, "up"),
        (Status.HEALTHY, "still up"),
        (Status.FAILING, "connection refused"),
        (Status.FAILING, "connection refused"),
        (Status.DEGRADED, "slow"),
    ]:
        outputs.on_result(result("db", status, message, kind="sql"))
    records = [r for r in caplog.records if r.name == outputs_module.LOGGER_NAME]
    assert [(r.levelno, r.getMessage()) for r in records] == [
        (logging.INFO, "health check db is healthy: up"),
        (logging.ERROR, "health check db is failing: connection refused"),
        (logging.WARNING, "health check db is degraded: slow"),
    ]
    failing = records[1].__dict__
    assert (failing["health.check.name"], failing["health.check.kind"], failing["health.status"]) == (
        "db",
        "sql",
        "failing",
    )
    assert failing["health.previous_status"] == "healthy"


class RecordingProcessor(SpanProcessor):
    def __init__(self) -> None:
        self.ended: list[ReadableSpan] = []

    def on_end(self, span: ReadableSpan) -> None:
        self.ended.append(span)


def test_results_reach_registered_sinks_and_a_broken_sink_is_contained() -> None:
    class Broken:
        def on_result(self, result: CheckResult) -> None:
            raise RuntimeError("boom")

    processor = RecordingProcessor()
    sink, broken = SpanProcessorSink(processor), Broken()
    register_sink(broken)
    register_sink(sink)
    register_sink(SpanProcessorSink(processor))  # same processor: not registered twice
    try:
        HealthOutputs(MeterProvider()).on_result(result("db", Status.FAILING, "refused", kind="sql"))
    finally:
        unregister_sink(sink)
        unregister_sink(broken)
    assert [s.name for s in processor.ended] == ["health db"]


def test_result_span_shape_for_rules() -> None:
    resource = Resource.create({"service.name": "inventory"})
    failing = result_span(result("db", Status.FAILING, "refused", kind="sql"), resource)
    assert failing.name == "health db"
    assert failing.kind is SpanKind.INTERNAL
    assert failing.status.status_code is StatusCode.ERROR and failing.status.description == "refused"
    assert dict(failing.attributes or {}) == {
        "health.check.name": "db",
        "health.check.kind": "sql",
        "health.status": "failing",
        "health.message": "refused",
    }
    assert (failing.start_time, failing.end_time) == (1_000_000_000, 1_250_000_000)
    assert failing.resource.attributes["service.name"] == "inventory"
    assert failing.context is not None and failing.context.trace_flags.sampled
    healthy = result_span(result("db", Status.DEGRADED), resource)
    assert healthy.status.status_code is StatusCode.OK
    assert healthy.context is not None and failing.context.trace_id != healthy.context.trace_id
