"""The shipped receivers take over gRPC what they take over HTTP: a request of up to 20 MiB.

gRPC's own default is 4 MiB. With it a Python app on OTEL_EXPORTER_OTLP_PROTOCOL=grpc lost a
whole batch of 4-20 MiB (512 spans with stack traces), which OTLP/HTTP delivered; and its exporter
retried the refusal (RESOURCE_EXHAUSTED is retryable in the SDK) until its timeout. A gateway lost
every batch over 4 MiB that the agent's `batch` processor built (the collector's gRPC exporter
drops a RESOURCE_EXHAUSTED without RetryInfo as permanent). Each shipped receiver runs here in our
collector build, its gRPC endpoint on a free port, forwarding to the in-process OTLP receiver.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import grpc
import pytest
import yaml
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2, trace_service_pb2_grpc
from opentelemetry.proto.common.v1 import common_pb2
from opentelemetry.proto.resource.v1 import resource_pb2
from opentelemetry.proto.trace.v1 import trace_pb2

from harness.apps import ROOT, free_port
from harness.collector import forwarding_exporter, require_collector, running_collector
from harness.otlp_receiver import OtlpReceiver

SPANS = 160
VALUE_BYTES = 48 * 1024  # 160 x 48 KiB: a 7.5 MiB request, between gRPC's 4 MiB and HTTP's 20 MiB


def _request() -> trace_service_pb2.ExportTraceServiceRequest:
    stack = "x" * VALUE_BYTES
    spans = [
        trace_pb2.Span(
            trace_id=(i + 1).to_bytes(16, "big"),
            span_id=(i + 1).to_bytes(8, "big"),
            name=f"big-{i}",
            start_time_unix_nano=1,
            end_time_unix_nano=2,
            attributes=[
                common_pb2.KeyValue(key="exception.stacktrace", value=common_pb2.AnyValue(string_value=stack))
            ],
        )
        for i in range(SPANS)
    ]
    service = common_pb2.KeyValue(key="service.name", value=common_pb2.AnyValue(string_value="big"))
    return trace_service_pb2.ExportTraceServiceRequest(
        resource_spans=[
            trace_pb2.ResourceSpans(
                resource=resource_pb2.Resource(attributes=[service]),
                scope_spans=[trace_pb2.ScopeSpans(spans=spans)],
            )
        ]
    )


def _forwarding(shipped_file: str, grpc_port: int, export_to: str) -> dict[str, Any]:
    """The file's OTLP receiver, gRPC only, on ``grpc_port``; traces straight on to ``export_to``."""
    shipped = yaml.safe_load((ROOT / "otel-collector" / shipped_file).read_text())
    grpc_settings = dict(shipped["receivers"]["otlp"]["protocols"]["grpc"])
    grpc_settings["endpoint"] = f"127.0.0.1:{grpc_port}"
    return {
        "receivers": {"otlp": {"protocols": {"grpc": grpc_settings}}},
        "exporters": forwarding_exporter(export_to),
        "service": {
            "telemetry": {"metrics": {"level": "none"}},
            "pipelines": {"traces": {"receivers": ["otlp"], "exporters": ["otlp_http"]}},
        },
    }


@pytest.mark.parametrize("shipped_file", ["config.yaml", "gateway.yaml"])
def test_a_grpc_request_of_several_mib_is_taken_as_over_http(tmp_path: Path, shipped_file: str) -> None:
    require_collector()
    request = _request()
    assert 4 * 2**20 < request.ByteSize() < 20 * 2**20, request.ByteSize()
    receiver = OtlpReceiver().start()
    port = free_port()
    try:
        with (
            running_collector(tmp_path, _forwarding(shipped_file, port, receiver.http_endpoint)),
            grpc.insecure_channel(
                f"127.0.0.1:{port}", options=[("grpc.max_send_message_length", 64 * 2**20)]
            ) as channel,
        ):
            stub = trace_service_pb2_grpc.TraceServiceStub(channel)
            try:
                stub.Export(request, timeout=60, wait_for_ready=True)
            except grpc.RpcError as exc:
                pytest.fail(f"{shipped_file}'s gRPC receiver refused {request.ByteSize()} bytes: {exc}")
            receiver.wait_for(lambda r: len(r.spans) >= SPANS, timeout=60)
    finally:
        receiver.stop()
    assert sorted(s.name for s in receiver.spans) == sorted(f"big-{i}" for i in range(SPANS))
