"""A Jaeger outage must not make a scale-out gateway refuse the agents' spans.

A gateway (otel-collector/gateway.yaml) queues what it sends Jaeger in memory, behind a
`memory_limiter` that refuses every span once the heap passes its soft limit. The queue held 5000
batches of any size, so an outage grew it until the limiter refused. The shipped gateway bounds it in
bytes (OTELCOL_JAEGER_QUEUE_BYTES) to a quarter of the soft limit; beyond, batches are dropped and
counted by the exporter, and the receiver keeps taking spans.

Here our collector build runs gateway.yaml whole, with its own 1 GiB limit and queue default (80
MiB), only its ports, Jaeger endpoint and a 1 s decision wait set through its variables; the Jaeger
port refuses every connection, and error spans (all kept by the `errors` policy) arrive over
OTLP/gRPC as fast as one client sends them, until the queue is seen dropping and some more.
Measured: the old gateway refused every span after 138 and 147 requests (two runs; heap ~700 MiB
before), the new one's queue stopped at 79.4 MiB and its heap at ~390 MiB. The limit is not scaled down as in the agent's test: at
256 MiB the flood alone, Jaeger up, kept 60-180 MiB of the 204 MiB soft limit in use (traces held
for their decision), so the queue's share could not be told from it.
"""

from __future__ import annotations

import time
from pathlib import Path

import grpc
import pytest
import yaml
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2, trace_service_pb2_grpc
from opentelemetry.proto.trace.v1 import trace_pb2

from harness.apps import ROOT, free_port
from harness.collector import require_collector, running_collector
from harness.shipped_collector import RESOURCE, env_default, own_metric, text

SPANS_PER_REQUEST = 2000
# A generous bound on the requests sent, not a timing: the old gateway refused after 138-147.
MAX_REQUESTS = 400
MORE_AFTER_THE_FIRST_DROP = 20
JAEGER = {"exporter": "otlp_http/jaeger"}


def _spans(request: int) -> trace_service_pb2.ExportTraceServiceRequest:
    now = time.time_ns()
    spans = [
        trace_pb2.Span(
            trace_id=(request * 100_000 + i + 1).to_bytes(16, "big"),
            span_id=(i + 1).to_bytes(8, "big"),
            name="GET /catalogue/{id}/items",
            kind=trace_pb2.Span.SPAN_KIND_SERVER,
            start_time_unix_nano=now - 10**6,
            end_time_unix_nano=now,
            status=trace_pb2.Status(code=trace_pb2.Status.STATUS_CODE_ERROR),
            attributes=[
                text("http.request.method", "GET"),
                text("http.route", "/catalogue/{id}/items"),
                text("url.full", f"http://storefront.internal:8000/catalogue/{request}/items?page={i}"),
                text("server.address", "storefront.internal"),
                text("server.port", 8000),
                text("http.response.status_code", 500),
                text("db.query.text", "SELECT id, name FROM items WHERE catalogue_id = ?"),
                text("code.function.name", "storefront.views.items"),
            ],
        )
        for i in range(SPANS_PER_REQUEST)
    ]
    return trace_service_pb2.ExportTraceServiceRequest(
        resource_spans=[
            trace_pb2.ResourceSpans(resource=RESOURCE, scope_spans=[trace_pb2.ScopeSpans(spans=spans)])
        ]
    )


def test_a_gateway_keeps_taking_spans_while_jaeger_is_down(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    require_collector()
    grpc_port, metrics_port, jaeger_down = free_port(), free_port(), free_port()
    for name, value in {
        "OTELCOL_OTLP_GRPC_PORT": str(grpc_port),
        "OTELCOL_HEALTH_PORT": str(free_port()),
        "OTELCOL_METRICS_PORT": str(metrics_port),
        # Nothing listens there: every export is refused, as when Jaeger is down.
        "JAEGER_OTLP_ENDPOINT": f"http://127.0.0.1:{jaeger_down}",
        "OTELCOL_SAMPLING_DECISION_WAIT": "1s",
    }.items():
        monkeypatch.setenv(name, value)
    for name in ("OTELCOL_MEMORY_LIMIT_MIB", "OTELCOL_JAEGER_QUEUE_BYTES"):
        monkeypatch.delenv(name, raising=False)  # the file's defaults
    gateway = yaml.safe_load((ROOT / "otel-collector" / "gateway.yaml").read_text())
    refused: list[str] = []
    first_drop: int | None = None
    sent = 0
    with running_collector(tmp_path, gateway, stop_within=10):
        with grpc.insecure_channel(f"127.0.0.1:{grpc_port}") as channel:
            grpc.channel_ready_future(channel).result(timeout=60)
            export = trace_service_pb2_grpc.TraceServiceStub(channel).Export
            for request in range(MAX_REQUESTS):
                try:
                    export(_spans(request), timeout=60)
                except grpc.RpcError as exc:
                    refused.append(f"request {request}: {exc.code()} {exc.details()}")
                    break
                sent = request + 1
                dropped = own_metric(metrics_port, "otelcol_exporter_enqueue_failed_spans", **JAEGER)
                if first_drop is None and dropped > 0:
                    first_drop = request
                if first_drop is not None and request >= first_drop + MORE_AFTER_THE_FIRST_DROP:
                    break
        context = (
            f"{sent} requests taken, refused {refused}, first drop after {first_drop}\n"
            + (tmp_path / "collector.log").read_text()[-3000:]
        )
        assert not refused, context
        assert first_drop is not None, context
        assert own_metric(metrics_port, "otelcol_receiver_refused_spans") == 0, context
        queued = own_metric(metrics_port, "otelcol_exporter_queue_size", **JAEGER)
        capacity = env_default(gateway["exporters"]["otlp_http/jaeger"]["sending_queue"]["queue_size"])
        assert 0 < queued <= capacity, context
