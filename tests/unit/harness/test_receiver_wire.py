"""The receiver against the SDK's real exporters on each wire variant, and its failure modes.

Integration tests trust this receiver to see what a collector would see, so each
transport (gRPC, HTTP/protobuf, OTLP/JSON, gzip) and each simulated collector
failure (refusal, hang) is proven here against real clients.
"""

from __future__ import annotations

import gzip
import json
import logging
import urllib.error
import urllib.request
from collections.abc import Iterator

import grpc
import pytest
from opentelemetry.exporter.otlp.proto.grpc._log_exporter import OTLPLogExporter as GrpcLogExporter
from opentelemetry.exporter.otlp.proto.grpc.metric_exporter import OTLPMetricExporter as GrpcMetricExporter
from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter as GrpcSpanExporter
from opentelemetry.exporter.otlp.proto.http import Compression
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter as HttpSpanExporter
from opentelemetry.instrumentation.logging.handler import LoggingHandler
from opentelemetry.sdk._logs import LoggerProvider
from opentelemetry.sdk._logs.export import SimpleLogRecordProcessor
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import PeriodicExportingMetricReader
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SpanExportResult
from opentelemetry.trace import Link, StatusCode

from harness.otlp_receiver import OtlpReceiver

RESOURCE = Resource.create({"service.name": "wire-test"})
STATUS_ERROR = 2  # OTLP Status.code


@pytest.fixture
def tracer_provider() -> Iterator[TracerProvider]:
    provider = TracerProvider(resource=RESOURCE)
    yield provider
    provider.shutdown()


def finished_span(provider: TracerProvider, name: str) -> ReadableSpan:
    with provider.get_tracer("wire").start_as_current_span(name) as span:
        pass
    return span  # type: ignore[return-value]


def post(url: str, body: bytes, headers: dict[str, str]) -> tuple[int, bytes, dict[str, str]]:
    request = urllib.request.Request(url, data=body, method="POST", headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return int(response.status), response.read(), dict(response.headers)
    except urllib.error.HTTPError as exc:
        return int(exc.code), exc.read(), dict(exc.headers)


def test_grpc_logs_carry_the_span_ids_they_were_emitted_in(otlp_receiver: OtlpReceiver) -> None:
    tracer = TracerProvider(resource=RESOURCE)
    logs = LoggerProvider(resource=RESOURCE)
    logs.add_log_record_processor(
        SimpleLogRecordProcessor(GrpcLogExporter(endpoint=otlp_receiver.grpc_endpoint, insecure=True))
    )
    logger = logging.getLogger("wire-test.grpc")
    logger.propagate = False
    handler = LoggingHandler(logger_provider=logs)
    logger.addHandler(handler)
    try:
        with tracer.get_tracer("wire").start_as_current_span("work") as span:
            logger.warning("stock low for %s", "FIG", extra={"sku": "FIG"})
    finally:
        logger.removeHandler(handler)
    record = otlp_receiver.wait_for(lambda rx: next(iter(rx.logs), None))
    context = span.get_span_context()
    assert record.body == "stock low for FIG"
    assert (record.trace_id, record.span_id) == (
        format(context.trace_id, "032x"),
        format(context.span_id, "016x"),
    )
    assert record.flags & 0x01 == 1  # sampled
    assert record.severity_text == "WARN" and record.attributes["sku"] == "FIG"
    assert record.service == "wire-test" and record.time_unix_nano > 0
    assert otlp_receiver.received[-1].transport == "grpc"
    logs.shutdown()
    tracer.shutdown()


def test_grpc_metrics_keep_kind_temporality_and_buckets(otlp_receiver: OtlpReceiver) -> None:
    reader = PeriodicExportingMetricReader(
        GrpcMetricExporter(endpoint=otlp_receiver.grpc_endpoint, insecure=True)
    )
    meters = MeterProvider(resource=RESOURCE, metric_readers=[reader])
    meter = meters.get_meter("wire")
    meter.create_counter("orders").add(3, {"route": "/checkout"})
    latency = meter.create_histogram("latency", unit="ms")
    for value in (1.0, 7.0, 700.0):
        latency.record(value)
    meters.force_flush()
    orders = otlp_receiver.wait_for(lambda rx: next(iter(rx.points_named("orders")), None))
    histogram = otlp_receiver.wait_for(lambda rx: next(iter(rx.points_named("latency")), None))
    assert (orders.kind, orders.monotonic, orders.temporality, orders.value) == ("sum", True, 2, 3.0)
    assert orders.attributes == {"route": "/checkout"} and orders.scope == "wire"
    assert (histogram.kind, histogram.unit, histogram.count, histogram.value) == ("histogram", "ms", 3, 708.0)
    assert sum(histogram.bucket_counts) == 3
    assert len(histogram.bucket_counts) == len(histogram.explicit_bounds) + 1
    meters.shutdown()


@pytest.mark.parametrize("transport", ["grpc", "http"])
def test_exception_event_and_error_status_are_decoded(
    otlp_receiver: OtlpReceiver, tracer_provider: TracerProvider, transport: str
) -> None:
    tracer = tracer_provider.get_tracer("wire")
    with tracer.start_as_current_span("upstream") as upstream:
        pass
    link_context = upstream.get_span_context()
    with tracer.start_as_current_span("failing", links=[Link(link_context)]) as span:
        span.record_exception(KeyError("FIG"))
        span.set_status(StatusCode.ERROR, "reservation failed")
    exporter = (
        GrpcSpanExporter(endpoint=otlp_receiver.grpc_endpoint, insecure=True)
        if transport == "grpc"
        else HttpSpanExporter(endpoint=f"{otlp_receiver.http_endpoint}/v1/traces")
    )
    assert exporter.export([span]) is SpanExportResult.SUCCESS  # type: ignore[list-item]
    record = otlp_receiver.wait_for(lambda rx: next(iter(rx.spans_named("failing")), None))
    event = record.event("exception")
    assert event is not None and event.attributes["exception.type"] == "KeyError"
    assert (record.status_code, record.status_message) == (STATUS_ERROR, "reservation failed")
    assert [(link.trace_id, link.span_id) for link in record.links] == [
        (format(link_context.trace_id, "032x"), format(link_context.span_id, "016x"))
    ]
    assert 0 < record.start_time_unix_nano <= record.end_time_unix_nano
    exporter.shutdown()


@pytest.mark.parametrize("transport", ["grpc", "http"])
def test_gzip_bodies_are_decoded(
    otlp_receiver: OtlpReceiver, tracer_provider: TracerProvider, transport: str
) -> None:
    exporter = (
        GrpcSpanExporter(
            endpoint=otlp_receiver.grpc_endpoint, insecure=True, compression=grpc.Compression.Gzip
        )
        if transport == "grpc"
        else HttpSpanExporter(
            endpoint=f"{otlp_receiver.http_endpoint}/v1/traces", compression=Compression.Gzip
        )
    )
    assert exporter.export([finished_span(tracer_provider, "zipped")]) is SpanExportResult.SUCCESS
    otlp_receiver.wait_for(lambda rx: rx.spans_named("zipped"))
    # gRPC decompresses before the servicer sees the call, so only HTTP shows the encoding.
    expected = "gzip" if transport == "http" else ""
    assert [(r.transport, r.content_encoding) for r in otlp_receiver.received] == [(transport, expected)]
    exporter.shutdown()


def test_otlp_json_with_hex_ids_is_decoded_and_answered_in_json(otlp_receiver: OtlpReceiver) -> None:
    trace_id, span_id, parent = "5b8efff798038103d269b633813fc60c", "eee19b7ec3c1b174", "eee19b7ec3c1b173"
    body = {
        "resourceSpans": [
            {
                "resource": {
                    "attributes": [{"key": "service.name", "value": {"stringValue": "json-client"}}]
                },
                "scopeSpans": [
                    {
                        "scope": {"name": "manual"},
                        "spans": [
                            {
                                "traceId": trace_id,
                                "spanId": span_id,
                                "parentSpanId": parent,
                                "name": "GET /stock",
                                "kind": 2,
                                "startTimeUnixNano": "1544712660000000000",
                                "endTimeUnixNano": "1544712661000000000",
                                "attributes": [{"key": "http.status", "value": {"intValue": "200"}}],
                            }
                        ],
                    }
                ],
            }
        ]
    }
    status, payload, headers = post(
        f"{otlp_receiver.http_endpoint}/v1/traces",
        json.dumps(body).encode(),
        {"Content-Type": "application/json"},
    )
    assert status == 200 and headers["Content-Type"] == "application/json"
    assert json.loads(payload) == {}
    [span] = otlp_receiver.spans
    assert (span.trace_id, span.span_id, span.parent_span_id) == (trace_id, span_id, parent)
    assert (span.name, span.kind, span.service, span.scope) == ("GET /stock", 2, "json-client", "manual")
    assert span.attributes == {"http.status": 200}
    assert span.end_time_unix_nano - span.start_time_unix_nano == 1_000_000_000


@pytest.mark.parametrize(
    ("body", "headers"),
    [
        (b"\xff\xff\xff", {"Content-Type": "application/x-protobuf"}),
        (b"not gzip", {"Content-Type": "application/x-protobuf", "Content-Encoding": "gzip"}),
        (gzip.compress(b""), {"Content-Type": "application/x-protobuf", "Content-Encoding": "br"}),
        (b"{", {"Content-Type": "application/json"}),
        (b"", {"Content-Type": "text/plain"}),
    ],
    ids=["bad-protobuf", "bad-gzip", "unknown-encoding", "bad-json", "bad-content-type"],
)
def test_undecodable_requests_get_400_and_are_counted(
    otlp_receiver: OtlpReceiver, tracer_provider: TracerProvider, body: bytes, headers: dict[str, str]
) -> None:
    status, _, _ = post(f"{otlp_receiver.http_endpoint}/v1/logs", body, headers)
    assert status == 400
    assert otlp_receiver.rejected["logs"] == 1 and otlp_receiver.logs == []
    # ... and the receiver keeps working for the next, valid request.
    exporter = HttpSpanExporter(endpoint=f"{otlp_receiver.http_endpoint}/v1/traces")
    assert exporter.export([finished_span(tracer_provider, "after")]) is SpanExportResult.SUCCESS
    assert otlp_receiver.requests["traces"] == 1


def test_one_refusal_is_retried_by_the_http_exporter(
    otlp_receiver: OtlpReceiver, tracer_provider: TracerProvider
) -> None:
    otlp_receiver.fail_next(1)
    exporter = HttpSpanExporter(endpoint=f"{otlp_receiver.http_endpoint}/v1/traces", timeout=10)
    assert exporter.export([finished_span(tracer_provider, "retried")]) is SpanExportResult.SUCCESS
    assert [r.accepted for r in otlp_receiver.received] == [False, True]
    assert (otlp_receiver.rejected["traces"], len(otlp_receiver.spans_named("retried"))) == (1, 1)


def test_a_non_retryable_grpc_refusal_fails_the_export_once(
    otlp_receiver: OtlpReceiver, tracer_provider: TracerProvider
) -> None:
    otlp_receiver.fail_next(5, status=400)  # INVALID_ARGUMENT: the exporter must not retry
    exporter = GrpcSpanExporter(endpoint=otlp_receiver.grpc_endpoint, insecure=True, timeout=10)
    assert exporter.export([finished_span(tracer_provider, "refused")]) is SpanExportResult.FAILURE
    assert otlp_receiver.rejected["traces"] == 1 and otlp_receiver.spans == []
    exporter.shutdown()


def test_refusal_status_and_retry_after_reach_http_clients(otlp_receiver: OtlpReceiver) -> None:
    otlp_receiver.fail_next(1, status=429, retry_after=7)
    status, _, headers = post(
        f"{otlp_receiver.http_endpoint}/v1/metrics", b"", {"Content-Type": "application/x-protobuf"}
    )
    assert (status, headers.get("Retry-After")) == (429, "7")
    status, _, _ = post(
        f"{otlp_receiver.http_endpoint}/v1/metrics", b"", {"Content-Type": "application/x-protobuf"}
    )
    assert status == 200  # only the next request was refused


@pytest.mark.parametrize("transport", ["grpc", "http"])
def test_hang_holds_requests_until_released(
    otlp_receiver: OtlpReceiver, tracer_provider: TracerProvider, transport: str
) -> None:
    exporter = (
        GrpcSpanExporter(endpoint=otlp_receiver.grpc_endpoint, insecure=True, timeout=1)
        if transport == "grpc"
        else HttpSpanExporter(endpoint=f"{otlp_receiver.http_endpoint}/v1/traces", timeout=1)
    )
    otlp_receiver.hang()
    assert exporter.export([finished_span(tracer_provider, "held")]) is SpanExportResult.FAILURE
    assert otlp_receiver.spans == []  # the client gave up while the request was held
    otlp_receiver.hang(False)
    # The held request is now processed, as a slow collector would, and new ones are answered.
    otlp_receiver.wait_for(lambda rx: rx.spans_named("held"))
    assert exporter.export([finished_span(tracer_provider, "later")]) is SpanExportResult.SUCCESS
    exporter.shutdown()


def test_wait_for_times_out_with_what_it_has(otlp_receiver: OtlpReceiver) -> None:
    with pytest.raises(AssertionError, match=r"have 0 spans, 0 metric points, 0 logs"):
        otlp_receiver.wait_for(lambda rx: rx.spans_named("never"), timeout=0.2)


def test_clear_forgets_records_and_counts(
    otlp_receiver: OtlpReceiver, tracer_provider: TracerProvider
) -> None:
    exporter = HttpSpanExporter(endpoint=f"{otlp_receiver.http_endpoint}/v1/traces")
    exporter.export([finished_span(tracer_provider, "old")])
    otlp_receiver.clear()
    assert (otlp_receiver.spans, otlp_receiver.received, otlp_receiver.requests["traces"]) == ([], [], 0)
    exporter.export([finished_span(tracer_provider, "new")])
    assert [s.name for s in otlp_receiver.spans] == ["new"]


def test_env_points_at_the_chosen_transport(otlp_receiver: OtlpReceiver) -> None:
    assert otlp_receiver.env()["OTEL_EXPORTER_OTLP_ENDPOINT"] == otlp_receiver.http_endpoint
    grpc_env = otlp_receiver.env("grpc", exporters=True)
    assert grpc_env["OTEL_EXPORTER_OTLP_ENDPOINT"] == otlp_receiver.grpc_endpoint
    assert grpc_env["OTEL_EXPORTER_OTLP_PROTOCOL"] == "grpc"
    assert {grpc_env[f"OTEL_{s}_EXPORTER"] for s in ("TRACES", "METRICS", "LOGS")} == {"otlp"}
    assert "OTEL_TRACES_EXPORTER" not in otlp_receiver.env()  # the distro's default is what tests see
