"""What the collector sends a backend fits the backend's request limit, however large the batch.

The `batch` processor bounds a batch in items only: requests that arrive together (each within the
collector's own 20 MiB) are merged, 2048 spans or more at a time, into one request of any size.
Jaeger's OTLP receiver takes 20 MiB a request (the collector's default; deploy/jaeger/config.yaml
sets none) and VictoriaLogs 64 MiB (-opentelemetry.maxRequestSize); over that they answer 400, a
permanent error, and the exporter dropped the whole batch (otelcol_exporter_send_failed_*). The
shipped exporters now split what they send at 20 MiB (sending_queue.batch, sizer bytes).

Here our collector build runs the shipped exporter (queue, storage and retries as shipped) behind
the shipped `batch` processor, whose timeout alone is lengthened so that the requests sent meet in
one batch as they do under load; the backend is a second collector whose OTLP/HTTP receiver has
the store's limit, forwarding to the in-process receiver.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml
from opentelemetry.proto.collector.logs.v1 import logs_service_pb2
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2
from opentelemetry.proto.common.v1 import common_pb2
from opentelemetry.proto.logs.v1 import logs_pb2
from opentelemetry.proto.resource.v1 import resource_pb2
from opentelemetry.proto.trace.v1 import trace_pb2

from harness.apps import ROOT, free_port
from harness.collector import post_when_listening, require_collector, running_collector
from harness.otlp_receiver import OtlpReceiver

PROTOBUF = "application/x-protobuf"

MIB = 2**20
SERVICE = resource_pb2.Resource(
    attributes=[common_pb2.KeyValue(key="service.name", value=common_pb2.AnyValue(string_value="big"))]
)


def _spans(request: int, count: int, value_bytes: int) -> bytes:
    value = common_pb2.AnyValue(string_value="s" * value_bytes)
    spans = [
        trace_pb2.Span(
            trace_id=(request * 100_000 + i + 1).to_bytes(16, "big"),
            span_id=(i + 1).to_bytes(8, "big"),
            name=f"span-{request}-{i}",
            start_time_unix_nano=1,
            end_time_unix_nano=2,
            attributes=[common_pb2.KeyValue(key="db.query.text", value=value)],
        )
        for i in range(count)
    ]
    scope = trace_pb2.ScopeSpans(spans=spans)
    body = trace_service_pb2.ExportTraceServiceRequest(
        resource_spans=[trace_pb2.ResourceSpans(resource=SERVICE, scope_spans=[scope])]
    )
    return body.SerializeToString()


def _logs(request: int, count: int, value_bytes: int) -> bytes:
    line = "l" * value_bytes
    records = [
        logs_pb2.LogRecord(
            time_unix_nano=1,
            severity_text="INFO",
            body=common_pb2.AnyValue(string_value=f"line-{request}-{i} {line}"),
        )
        for i in range(count)
    ]
    scope = logs_pb2.ScopeLogs(log_records=records)
    body = logs_service_pb2.ExportLogsServiceRequest(
        resource_logs=[logs_pb2.ResourceLogs(resource=SERVICE, scope_logs=[scope])]
    )
    return body.SerializeToString()


@dataclass(frozen=True)
class Case:
    signal: str
    exporter: str
    backend_limit: int  # the store's request limit, bytes (0: a gateway's, from gateway.yaml)
    requests: int  # each under the collector's own 20 MiB; together at least 2048 items
    items: int  # per request
    value_bytes: int
    shipped_file: str = "config.yaml"  # where the exporter is
    backend_grpc: bool = False  # the backend is a gateway: gateway.yaml's OTLP/gRPC receiver

    def body(self, request: int) -> bytes:
        make = _spans if self.signal == "traces" else _logs
        return make(request, self.items, self.value_bytes)

    def received(self, receiver: OtlpReceiver) -> int:
        return len(receiver.spans if self.signal == "traces" else receiver.logs)


CASES = [
    # 3 x 700 spans of 14 KiB: 29 MiB in one batch, Jaeger takes 20.
    Case("traces", "otlp_http/jaeger", 20 * MIB, 3, 700, 14 * 1024),
    # 4 x 520 lines of 32 KiB: 65 MiB in one batch, VictoriaLogs takes 64.
    Case("logs", "otlp_http/victorialogs", 64 * MIB, 4, 520, 32 * 1024),
    # The scale-out agent's route to a gateway: the same 29 MiB batch, over gRPC.
    Case("traces", "load_balancing/gateways", 0, 3, 700, 14 * 1024, "agent.yaml", backend_grpc=True),
]


def _wait_delivered(receiver: OtlpReceiver, case: Case, wanted: int, log: Path) -> None:
    """Until every item reached the backend; fails at once when the exporter says it dropped some."""
    deadline = time.monotonic() + 120
    while True:
        try:
            receiver.wait_for(lambda r: case.received(r) >= wanted, timeout=1)
            return
        except AssertionError as exc:
            text = log.read_text()
            if "Dropping data" in text or time.monotonic() > deadline:
                pytest.fail(
                    f"{case.received(receiver)} of {wanted} delivered ({exc})\ncollector log:\n{text[-3000:]}"
                )


def _shipped(name: str) -> dict[str, Any]:
    return dict(yaml.safe_load((ROOT / "otel-collector" / name).read_text()))


def _limit(case: Case) -> int:
    """The backend's request limit in bytes; a gateway's is gateway.yaml's."""
    if case.backend_grpc:
        grpc = _shipped("gateway.yaml")["receivers"]["otlp"]["protocols"]["grpc"]
        return int(grpc.get("max_recv_msg_size_mib", 4)) * MIB
    return case.backend_limit


def _backend(case: Case, port: int, forward_to: str) -> dict[str, Any]:
    if case.backend_grpc:
        gateway_grpc = _shipped("gateway.yaml")["receivers"]["otlp"]["protocols"]["grpc"]
        protocols = {"grpc": {**gateway_grpc, "endpoint": f"127.0.0.1:{port}"}}
    else:
        protocols = {"http": {"endpoint": f"127.0.0.1:{port}", "max_request_body_size": case.backend_limit}}
    return {
        "receivers": {"otlp": {"protocols": protocols}},
        "exporters": {"otlp_http": {"endpoint": forward_to, "compression": "none"}},
        "service": {
            "telemetry": {"metrics": {"level": "none"}},
            "pipelines": {
                signal: {"receivers": ["otlp"], "exporters": ["otlp_http"]} for signal in ("traces", "logs")
            },
        },
    }


def _collector(tmp_path: Path, case: Case, port: int, backend_port: int) -> dict[str, Any]:
    shipped = _shipped("config.yaml")
    storage = dict(shipped["extensions"]["file_storage/queue"])
    storage["directory"] = str(tmp_path / "queue")
    storage["compaction"] = {**storage["compaction"], "directory": str(tmp_path / "queue")}
    exporter = dict(_shipped(case.shipped_file)["exporters"][case.exporter])
    if case.backend_grpc:
        exporter["resolver"] = {"static": {"hostnames": [f"127.0.0.1:{backend_port}"]}}
    else:
        exporter["endpoint"] = f"http://127.0.0.1:{backend_port}"
        exporter.pop("headers", None)
    batch = {**shipped["processors"]["batch"], "timeout": "60s"}
    return {
        "extensions": {"file_storage/queue": storage},
        "receivers": {"otlp": {"protocols": {"http": {"endpoint": f"127.0.0.1:{port}"}}}},
        "processors": {"batch": batch},
        "exporters": {case.exporter: exporter},
        "service": {
            "extensions": ["file_storage/queue"],
            "telemetry": {"metrics": {"level": "none"}},
            "pipelines": {
                case.signal: {"receivers": ["otlp"], "processors": ["batch"], "exporters": [case.exporter]}
            },
        },
    }


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.exporter)
def test_a_batch_over_the_backends_request_limit_is_delivered(tmp_path: Path, case: Case) -> None:
    require_collector()
    assert case.requests * case.items >= int(
        _shipped("config.yaml")["processors"]["batch"]["send_batch_size"]
    )
    receiver = OtlpReceiver().start()
    backend_port, port = free_port(), free_port()
    (tmp_path / "backend").mkdir()
    (tmp_path / "collector").mkdir()
    wanted = case.requests * case.items
    try:
        with (
            running_collector(tmp_path / "backend", _backend(case, backend_port, receiver.http_endpoint)),
            running_collector(
                tmp_path / "collector", _collector(tmp_path / "collector", case, port, backend_port)
            ),
        ):
            sizes = []
            for request in range(case.requests):
                body = case.body(request)
                sizes.append(len(body))
                assert post_when_listening(f"http://127.0.0.1:{port}/v1/{case.signal}", body, PROTOBUF) == 200
            assert sum(sizes) > _limit(case) and max(sizes) < 20 * MIB, sizes
            _wait_delivered(receiver, case, wanted, tmp_path / "collector" / "collector.log")
    finally:
        receiver.stop()
    assert case.received(receiver) == wanted
