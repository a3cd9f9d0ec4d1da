"""What a scale-out gateway sends Jaeger fits Jaeger's request limit, however large the batch.

A gateway (otel-collector/gateway.yaml) receives requests of at most 20 MiB from the agents, decides
whole traces in tail_sampling and merges what it keeps in `batch`, which bounds a batch in spans
only: spans decided together become one request of any size. Jaeger's OTLP receiver takes 20 MiB
a request (the collector's default, applied to the decompressed body) and answers 400 over it, a
permanent error: the gateway dropped the whole batch (measured by a reviewer: 600 spans of one
50 KB attribute, one 28.8 MiB request, `otelcol_exporter_send_failed_spans` 600). The shipped
gateway now cuts what it sends at 20 MiB (sending_queue.batch, sizer bytes), as config.yaml does
(test_request_bytes.py).

Here our collector build runs gateway.yaml whole, only its ports, its Jaeger endpoint and the
decision wait (1 s, for a quick test) set through its own variables, and `batch`'s timeout
lengthened so that the spans sent meet in one batch of `send_batch_size` spans, as they do under
load (with the shipped 1 s, the timer split the burst at a random point: the old gateway.yaml
delivered it 1 run in 6). Its OTLP/gRPC receiver is fed directly, and "Jaeger" is a sink in the
test that refuses a body over 20 MiB as Jaeger does and records the size of every request it takes.
"""

from __future__ import annotations

import gzip
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
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
from harness.collector import require_collector, running_collector
from harness.shipped_collector import own_metric

MIB = 2**20
JAEGER_LIMIT = 20 * MIB  # Jaeger's OTLP receiver: the collector's default max_request_body_size
# 4 x 512 spans of 14 KiB: 28 MiB, exactly the 2048 spans that `batch` merges into one request.
REQUESTS, SPANS, VALUE_BYTES = 4, 512, 14 * 1024
SERVICE = resource_pb2.Resource(
    attributes=[common_pb2.KeyValue(key="service.name", value=common_pb2.AnyValue(string_value="big"))]
)


def _spans(request: int) -> bytes:
    """SPANS error spans (the `errors` policy keeps every one), each its own trace."""
    value = common_pb2.AnyValue(string_value="s" * VALUE_BYTES)
    now = time.time_ns()
    spans = [
        trace_pb2.Span(
            trace_id=(request * 100_000 + i + 1).to_bytes(16, "big"),
            span_id=(i + 1).to_bytes(8, "big"),
            name=f"span-{request}-{i}",
            start_time_unix_nano=now - 10**6,
            end_time_unix_nano=now,
            status=trace_pb2.Status(code=trace_pb2.Status.STATUS_CODE_ERROR),
            attributes=[common_pb2.KeyValue(key="db.query.text", value=value)],
        )
        for i in range(SPANS)
    ]
    body = trace_service_pb2.ExportTraceServiceRequest(
        resource_spans=[
            trace_pb2.ResourceSpans(resource=SERVICE, scope_spans=[trace_pb2.ScopeSpans(spans=spans)])
        ]
    )
    return body.SerializeToString()


@dataclass
class JaegerSink:
    """Jaeger's OTLP/HTTP trace receiver as far as the exporter can tell: a decompressed body over
    20 MiB is answered 400 ("request body too large"), the others are counted."""

    taken: list[tuple[int, int]] = field(default_factory=list)  # (body bytes, spans) per request
    refused: list[int] = field(default_factory=list)  # body bytes of each refused request
    changed: threading.Condition = field(default_factory=threading.Condition)

    def start(self) -> str:
        sink = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                if self.headers.get("Content-Encoding") == "gzip":
                    body = gzip.decompress(body)
                if len(body) > JAEGER_LIMIT:
                    with sink.changed:
                        sink.refused.append(len(body))
                        sink.changed.notify_all()
                    self.send_response(400)
                    self.send_header("Content-Type", "text/plain")
                    self.end_headers()
                    self.wfile.write(b"http: request body too large")
                    return
                request = trace_service_pb2.ExportTraceServiceRequest.FromString(body)
                spans = sum(len(s.spans) for r in request.resource_spans for s in r.scope_spans)
                answer = trace_service_pb2.ExportTraceServiceResponse().SerializeToString()
                self.send_response(200)
                self.send_header("Content-Type", "application/x-protobuf")
                self.send_header("Content-Length", str(len(answer)))
                self.end_headers()
                self.wfile.write(answer)
                with sink.changed:
                    sink.taken.append((len(body), spans))
                    sink.changed.notify_all()

            def log_message(self, *args: object) -> None:
                return

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def spans(self) -> int:
        return sum(spans for _, spans in self.taken)


@pytest.fixture
def jaeger() -> Iterator[JaegerSink]:
    sink = JaegerSink()
    sink.start()
    try:
        yield sink
    finally:
        sink.server.shutdown()


def _gateway() -> dict[str, Any]:
    """gateway.yaml as shipped but for `batch`'s timeout: a batch leaves at send_batch_size spans."""
    gateway: dict[str, Any] = yaml.safe_load((ROOT / "otel-collector" / "gateway.yaml").read_text())
    gateway["processors"]["batch"]["timeout"] = "60s"
    return gateway


def test_a_burst_of_large_spans_reaches_jaeger_in_requests_it_takes(
    tmp_path: Path, jaeger: JaegerSink, monkeypatch: pytest.MonkeyPatch
) -> None:
    require_collector()
    grpc_port, metrics_port = free_port(), free_port()
    for name, value in {
        "OTELCOL_OTLP_GRPC_PORT": str(grpc_port),
        "OTELCOL_HEALTH_PORT": str(free_port()),
        "OTELCOL_METRICS_PORT": str(metrics_port),
        "JAEGER_OTLP_ENDPOINT": f"http://127.0.0.1:{jaeger.server.server_address[1]}",
        "OTELCOL_SAMPLING_DECISION_WAIT": "1s",
    }.items():
        monkeypatch.setenv(name, value)
    wanted = REQUESTS * SPANS
    assert wanted == int(_gateway()["processors"]["batch"]["send_batch_size"])
    log = tmp_path / "collector.log"
    with running_collector(tmp_path, _gateway(), stop_within=10):
        bodies = [_spans(i) for i in range(REQUESTS)]
        # What an agent sends a gateway: each request within gateway.yaml's receiver limit.
        grpc_limit = int(_gateway()["receivers"]["otlp"]["protocols"]["grpc"]["max_recv_msg_size_mib"]) * MIB
        assert sum(map(len, bodies)) > JAEGER_LIMIT and max(map(len, bodies)) < grpc_limit
        with grpc.insecure_channel(f"127.0.0.1:{grpc_port}") as channel:
            grpc.channel_ready_future(channel).result(timeout=60)
            export = trace_service_pb2_grpc.TraceServiceStub(channel).Export
            for body in bodies:
                export(trace_service_pb2.ExportTraceServiceRequest.FromString(body), timeout=60)
        with jaeger.changed:
            jaeger.changed.wait_for(lambda: jaeger.spans() >= wanted or bool(jaeger.refused), timeout=120)
        context = f"taken {jaeger.taken}, refused {jaeger.refused}\ngateway log:\n{log.read_text()[-3000:]}"
        assert not jaeger.refused, context
        assert jaeger.spans() == wanted, context
        assert max(size for size, _ in jaeger.taken) <= JAEGER_LIMIT, context
        failed = own_metric(metrics_port, "otelcol_exporter_send_failed_spans", exporter="otlp_http/jaeger")
        assert failed == 0, context
