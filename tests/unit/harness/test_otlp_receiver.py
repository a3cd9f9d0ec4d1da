"""The receiver decodes what the SDK's real OTLP exporters send, over gRPC and HTTP."""

from __future__ import annotations

import pytest
from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter as GrpcSpanExporter
from opentelemetry.exporter.otlp.proto.http._log_exporter import OTLPLogExporter
from opentelemetry.exporter.otlp.proto.http.metric_exporter import OTLPMetricExporter
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter as HttpSpanExporter
from opentelemetry.sdk._logs import LoggerProvider
from opentelemetry.sdk._logs.export import SimpleLogRecordProcessor
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import PeriodicExportingMetricReader
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor, SpanExportResult

from harness.otlp_receiver import OtlpReceiver

RESOURCE = Resource.create({"service.name": "rx-test"})


@pytest.mark.parametrize("transport", ["grpc", "http"])
def test_spans_decoded_with_ids_and_attributes(otlp_receiver: OtlpReceiver, transport: str) -> None:
    exporter = (
        GrpcSpanExporter(endpoint=f"127.0.0.1:{otlp_receiver.grpc_port}", insecure=True)
        if transport == "grpc"
        else HttpSpanExporter(endpoint=f"{otlp_receiver.http_endpoint}/v1/traces")
    )
    provider = TracerProvider(resource=RESOURCE)
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    with (
        provider.get_tracer("t").start_as_current_span("parent") as parent,
        provider.get_tracer("t").start_as_current_span("child", attributes={"n": 3, "tags": ["a", "b"]}),
    ):
        pass
    child = otlp_receiver.wait_for(lambda rx: next(iter(rx.spans_named("child")), None))
    assert child.parent_span_id == format(parent.get_span_context().span_id, "016x")
    assert child.attributes == {"n": 3, "tags": ["a", "b"]}
    assert child.service == "rx-test"
    provider.shutdown()


def test_metrics_and_logs_over_http(otlp_receiver: OtlpReceiver) -> None:
    reader = PeriodicExportingMetricReader(
        OTLPMetricExporter(endpoint=f"{otlp_receiver.http_endpoint}/v1/metrics")
    )
    meters = MeterProvider(resource=RESOURCE, metric_readers=[reader])
    meters.get_meter("m").create_counter("orders").add(2, {"kind": "x"})
    meters.force_flush()
    point = otlp_receiver.wait_for(lambda rx: next((m for m in rx.metrics if m.name == "orders"), None))
    assert point.value == 2 and point.attributes == {"kind": "x"}
    logs = LoggerProvider(resource=RESOURCE)
    logs.add_log_record_processor(
        SimpleLogRecordProcessor(OTLPLogExporter(endpoint=f"{otlp_receiver.http_endpoint}/v1/logs"))
    )
    logs.get_logger("l").emit(body="hello", severity_text="WARN")
    record = otlp_receiver.wait_for(lambda rx: next((r for r in rx.logs if r.body == "hello"), None))
    assert record.severity_text == "WARN"
    meters.shutdown()
    logs.shutdown()


def test_fail_next_makes_the_exporter_see_failures(otlp_receiver: OtlpReceiver) -> None:
    otlp_receiver.fail_next(100)
    exporter = HttpSpanExporter(endpoint=f"{otlp_receiver.http_endpoint}/v1/traces", timeout=1)
    provider = TracerProvider(resource=RESOURCE)
    with provider.get_tracer("t").start_as_current_span("lost") as span:
        pass
    assert exporter.export([span]) is SpanExportResult.FAILURE  # type: ignore[list-item]
    assert otlp_receiver.spans == []
