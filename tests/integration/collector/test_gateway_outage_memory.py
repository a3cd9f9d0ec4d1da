"""A gateway outage must not become a metrics and log outage on the scale-out agent.

The agent (config.yaml + agent.yaml) sends traces to the gateways through the `load_balancing`
exporter, which keeps an in-memory queue per gateway. Every pipeline starts with `memory_limiter`,
which refuses everything once the heap passes its soft limit; with 5000 requests of any size a
gateway that was down grew that queue until the limiter refused metrics and logs too (the agent
sends those straight to Prometheus and VictoriaLogs). The shipped agent now bounds each queue in
bytes (OTELCOL_GATEWAY_QUEUE_BYTES), so a full queue stays far below the soft limit and further
traces for that gateway are dropped and counted instead.

Here our collector build runs the agent's files whole (only listening ports and folders moved),
with the memory limit scaled down so the test is quick and the queue sized by the shipped rule
(docs/collector.md, "A gateway outage and the memory limit"): the gateway's port refuses every
connection, traces arrive at full speed until the queue drops and counts them, then metrics and
logs sent must still be accepted and delivered. A second test keeps what the queue is there for:
traces sent during a short outage reach the gateway once it is back.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
import yaml
from opentelemetry.proto.collector.metrics.v1 import metrics_service_pb2
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2
from opentelemetry.proto.metrics.v1 import metrics_pb2
from opentelemetry.proto.trace.v1 import trace_pb2

from harness.apps import ROOT, free_port
from harness.collector import forwarding_exporter, post_when_listening, require_collector, running_collector
from harness.otlp_receiver import OtlpReceiver
from harness.shipped_collector import (
    PROTOBUF,
    RESOURCE,
    container_soft_limit_bytes,
    env_default,
    flood_until_dropping,
    kubernetes_container,
    log_request,
    own_metric,
    shipped_config,
    soft_limit_bytes,
    text,
)
from otelbundle.cli.stack import components as comp

# Small enough that the old config reached it in seconds; the shipped rule sizes the queue from it.
MEMORY_LIMIT_MIB = 128
# Heap per queued (serialized) byte, rounded up: spans of many short attributes, as below, took
# 2.4 (32 MiB queued: +76 MiB after a forced GC), spans of one large attribute 1.1.
HEAP_PER_QUEUED_BYTE = 2.5
SPANS_PER_REQUEST = 2000
# A generous bound on the trace requests sent, not a timing: the old config refused at a few dozen.
MAX_TRACE_REQUESTS = 400
# The queue stays full under the flood that goes on: these are dropped too, none refused.
MORE_AFTER_THE_FIRST_DROP = 20
METRICS, LOGS = 10, 10
LOAD_BALANCING = {"exporter": "load_balancing/gateways"}


def _spans(request: int, count: int = SPANS_PER_REQUEST) -> bytes:
    """``count`` server spans of a Python web service, each its own trace: what costs the most heap
    per queued byte (many short attributes)."""
    now = time.time_ns()
    spans = [
        trace_pb2.Span(
            trace_id=(request * 100_000 + i + 1).to_bytes(16, "big"),
            span_id=(i + 1).to_bytes(8, "big"),
            name="GET /catalogue/{id}/items",
            kind=trace_pb2.Span.SPAN_KIND_SERVER,
            start_time_unix_nano=now - 10**6,
            end_time_unix_nano=now,
            attributes=[
                text("http.request.method", "GET"),
                text("http.route", "/catalogue/{id}/items"),
                text("url.full", f"http://storefront.internal:8000/catalogue/{request}/items?page={i}"),
                text("url.scheme", "http"),
                text("server.address", "storefront.internal"),
                text("server.port", 8000),
                text("client.address", "10.1.2.3"),
                text("network.protocol.version", "1.1"),
                text("user_agent.original", "python-requests/2.32.3"),
                text("http.response.status_code", 200),
                text("http.response.body.size", 1234 + i),
                text("db.system.name", "postgresql"),
                text("db.query.text", "SELECT id, name FROM items WHERE catalogue_id = ?"),
                text("thread.id", 140_000 + i),
                text("code.function.name", "storefront.views.items"),
            ],
        )
        for i in range(count)
    ]
    body = trace_service_pb2.ExportTraceServiceRequest(
        resource_spans=[
            trace_pb2.ResourceSpans(resource=RESOURCE, scope_spans=[trace_pb2.ScopeSpans(spans=spans)])
        ]
    )
    return body.SerializeToString()


def _gauge(i: int) -> bytes:
    point = metrics_pb2.NumberDataPoint(as_int=i, time_unix_nano=time.time_ns())
    metric = metrics_pb2.Metric(name="after.the.outage", gauge=metrics_pb2.Gauge(data_points=[point]))
    body = metrics_service_pb2.ExportMetricsServiceRequest(
        resource_metrics=[
            metrics_pb2.ResourceMetrics(
                resource=RESOURCE, scope_metrics=[metrics_pb2.ScopeMetrics(metrics=[metric])]
            )
        ]
    )
    return body.SerializeToString()


class RemoteWriteSink:
    """Prometheus's remote-write endpoint, as far as the exporter can tell: counts the writes."""

    def __init__(self) -> None:
        self.writes = 0
        self.changed = threading.Condition()
        sink = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                self.rfile.read(int(self.headers["Content-Length"]))
                self.send_response(204)
                self.end_headers()
                with sink.changed:
                    sink.writes += 1
                    sink.changed.notify_all()

            def log_message(self, *args: object) -> None:
                return

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/api/v1/write"

    def wait_for_writes(self, count: int, timeout: float = 60.0) -> None:
        with self.changed:
            assert self.changed.wait_for(lambda: self.writes >= count, timeout), f"{self.writes} writes"


@pytest.fixture
def prometheus() -> Iterator[RemoteWriteSink]:
    sink = RemoteWriteSink()
    try:
        yield sink
    finally:
        sink.server.shutdown()


def _agent_config(tmp_path: Path, otlp_port: int, metrics_port: int) -> dict[str, Any]:
    """config.yaml + agent.yaml as the collector merges them (maps merge, lists are replaced)."""

    def merge(base: Any, top: Any) -> Any:
        if isinstance(base, dict) and isinstance(top, dict):
            return {**base, **{k: merge(base.get(k), v) for k, v in top.items()}}
        return top

    agent = yaml.safe_load((ROOT / "otel-collector" / "agent.yaml").read_text())
    return dict(merge(shipped_config(tmp_path, otlp_port, metrics_port), agent))


def _queue_bytes_for(soft_limit: float, gateways: int) -> int:
    """The shipped rule: N full queues take at most a quarter of the soft limit (bytes)."""
    return int(soft_limit / 4 / HEAP_PER_QUEUED_BYTE / gateways)


def _dropped(port: int) -> float:
    """Spans the agent gave up on for the gateways: the load_balancing exporter's count."""
    return own_metric(port, "otelcol_exporter_send_failed_spans", **LOAD_BALANCING)


def _environment(
    config: dict[str, Any], gateway_port: int, otlp_receiver: OtlpReceiver, prometheus: RemoteWriteSink
) -> dict[str, str]:
    return {
        "OTELCOL_MEMORY_LIMIT_MIB": str(MEMORY_LIMIT_MIB),
        "OTELCOL_GATEWAY_ENDPOINTS": f"[127.0.0.1:{gateway_port}]",
        "OTELCOL_GATEWAY_QUEUE_BYTES": str(_queue_bytes_for(soft_limit_bytes(config, MEMORY_LIMIT_MIB), 1)),
        "JAEGER_OTLP_ENDPOINT": otlp_receiver.http_endpoint,  # not used by the agent
        "VICTORIALOGS_OTLP_ENDPOINT": otlp_receiver.http_endpoint,
        "PROMETHEUS_REMOTE_WRITE_URL": prometheus.url,
        # Only the metrics this test sends reach the sink.
        "OTELCOL_SPAN_METRICS_FLUSH_INTERVAL": "1h",
    }


def test_metrics_and_logs_are_accepted_and_delivered_while_a_gateway_is_down(
    tmp_path: Path, otlp_receiver: OtlpReceiver, prometheus: RemoteWriteSink, monkeypatch: pytest.MonkeyPatch
) -> None:
    require_collector()
    otlp_port, metrics_port, gateway_down = free_port(), free_port(), free_port()
    config = _agent_config(tmp_path, otlp_port, metrics_port)
    # Nothing listens on the gateway's port: every export is refused, as when it is down.
    for name, value in _environment(config, gateway_down, otlp_receiver, prometheus).items():
        monkeypatch.setenv(name, value)
    base = f"http://127.0.0.1:{otlp_port}"
    with running_collector(tmp_path, config, stop_within=10):
        statuses, first_drop = flood_until_dropping(
            f"{base}/v1/traces",
            _spans,
            lambda: _dropped(metrics_port),
            MAX_TRACE_REQUESTS,
            more=MORE_AFTER_THE_FIRST_DROP,
            every=5,
        )
        writes_before = prometheus.writes
        metric_statuses = [
            post_when_listening(f"{base}/v1/metrics", _gauge(i), PROTOBUF) for i in range(METRICS)
        ]
        log_statuses = [post_when_listening(f"{base}/v1/logs", log_request(i), PROTOBUF) for i in range(LOGS)]
        refused_traces = [s for s in statuses if s != 200]
        context = (
            f"{len(statuses)} trace requests sent, refused {refused_traces}, first drop after {first_drop}\n"
            + (tmp_path / "collector.log").read_text()[-3000:]
        )
        assert set(metric_statuses) == {200}, f"metrics answered {metric_statuses}; {context}"
        assert set(log_statuses) == {200}, f"logs answered {log_statuses}; {context}"
        otlp_receiver.wait_for(lambda r: len(r.logs) >= LOGS, timeout=60)
        prometheus.wait_for_writes(writes_before + 1)
        assert not refused_traces, context
        assert first_drop is not None, context
        assert _dropped(metrics_port) > 0, context
        for signal in ("spans", "metric_points", "log_records"):
            assert own_metric(metrics_port, f"otelcol_receiver_refused_{signal}") == 0, context


def test_traces_sent_during_a_short_gateway_outage_reach_it_once_it_is_back(
    tmp_path: Path, otlp_receiver: OtlpReceiver, prometheus: RemoteWriteSink, monkeypatch: pytest.MonkeyPatch
) -> None:
    """What the per-gateway queue is for: a gateway restarting loses nothing the agent sent."""
    require_collector()
    otlp_port, metrics_port, gateway_port = free_port(), free_port(), free_port()
    config = _agent_config(tmp_path, otlp_port, metrics_port)
    for name, value in _environment(config, gateway_port, otlp_receiver, prometheus).items():
        monkeypatch.setenv(name, value)
    # The gateway stands in as a collector taking OTLP/gRPC on the agent's gateway port and
    # handing every span on to the in-process receiver.
    gateway = {
        "receivers": {"otlp": {"protocols": {"grpc": {"endpoint": f"127.0.0.1:{gateway_port}"}}}},
        "exporters": forwarding_exporter(otlp_receiver.http_endpoint),
        "service": {
            "telemetry": {"metrics": {"level": "none"}},
            "pipelines": {"traces": {"receivers": ["otlp"], "exporters": ["otlp_http"]}},
        },
    }
    (tmp_path / "gateway").mkdir()
    log = tmp_path / "collector.log"
    with running_collector(tmp_path, config, stop_within=10):
        base = f"http://127.0.0.1:{otlp_port}"
        statuses = [post_when_listening(f"{base}/v1/traces", _spans(i, 10), PROTOBUF) for i in range(5)]
        assert set(statuses) == {200}, statuses
        deadline = time.monotonic() + 60
        while "Exporting failed. Will retry" not in log.read_text():  # the queue holds them
            assert time.monotonic() < deadline, log.read_text()[-3000:]
            time.sleep(0.2)
        assert not otlp_receiver.spans
        with running_collector(tmp_path / "gateway", gateway, stop_within=10):
            otlp_receiver.wait_for(lambda r: len(r.spans) >= 50, timeout=60)
        assert _dropped(metrics_port) == 0, log.read_text()[-3000:]
    assert len({s.trace_id for s in otlp_receiver.spans}) == 50


def test_the_shipped_gateway_queues_keep_to_a_quarter_of_each_soft_limit() -> None:
    """The defaults the tests above scale down: agent.yaml's for the files' 1 GiB and the two
    gateways of compose (and `stack up --gateways 2`), and the Kubernetes agent's for its
    container and the gateway Deployment's replicas. There memory_limiter runs on percentages
    of the container (OTELCOL_MEMORY_LIMIT_MIB=0), and the soft limit is 60 % of it, not 80 % of
    80 %: two 20 MiB queues (100 MiB of heap) overflowed a quarter of a 640Mi agent's (96 MiB).
    Nor is any under the largest request the agent sends a gateway: a smaller queue drops such a
    request whole (the Kubernetes agent had 16 MiB)."""
    config = yaml.safe_load((ROOT / "otel-collector" / "config.yaml").read_text())
    agent = yaml.safe_load((ROOT / "otel-collector" / "agent.yaml").read_text())
    queue = agent["exporters"]["load_balancing/gateways"]["protocol"]["otlp"]["sending_queue"]
    assert queue.get("sizer") == "bytes" and queue["batch"].get("sizer") == "bytes", queue
    limit_mib = env_default(config["processors"]["memory_limiter"]["limit_mib"])
    assert env_default(queue["queue_size"]) <= _queue_bytes_for(soft_limit_bytes(config, limit_mib), 2)
    _, env, memory_mib = kubernetes_container("collector-agent.yaml", "DaemonSet")
    deployment, _, _ = kubernetes_container("collector-gateway.yaml", "Deployment")
    replicas = int(deployment["spec"]["replicas"])
    assert env["OTELCOL_MEMORY_LIMIT_MIB"] == "0"
    soft_limit = container_soft_limit_bytes(config, memory_mib)
    assert int(env["OTELCOL_GATEWAY_QUEUE_BYTES"]) <= _queue_bytes_for(soft_limit, replicas), memory_mib
    largest = agent["exporters"]["load_balancing/gateways"]["protocol"]["otlp"]["sending_queue"]["batch"]
    for shipped in (int(env["OTELCOL_GATEWAY_QUEUE_BYTES"]), env_default(queue["queue_size"])):
        assert shipped >= int(largest["max_size"]) == comp.MIN_GATEWAY_QUEUE_BYTES, (shipped, largest)
    compose = yaml.safe_load((ROOT / "deploy" / "compose.scale-out.yaml").read_text())
    passed = compose["services"]["otel-collector"]["environment"]["OTELCOL_GATEWAY_QUEUE_BYTES"]
    assert passed == f"${{OTELCOL_GATEWAY_QUEUE_BYTES:-{env_default(queue['queue_size'])}}}", passed


def test_the_shipped_jaeger_queues_keep_to_a_quarter_of_each_gateways_soft_limit() -> None:
    """A gateway's in-memory Jaeger queue by the same rule: full, within a quarter of the gateway's
    soft limit at HEAP_PER_QUEUED_BYTE. gateway.yaml held 5000 batches of any size, so a Jaeger
    outage could fill the soft limit and the gateway refused every span the agents sent. Checked:
    gateway.yaml's default for its 1 GiB, what compose passes its gateways, the Kubernetes
    gateway's value for 60 % of its container; none under one 20 MiB request, which gateway.yaml
    cuts what it sends at (a batch larger than the queue is dropped whole)."""
    gateway = yaml.safe_load((ROOT / "otel-collector" / "gateway.yaml").read_text())
    jaeger = gateway["exporters"]["otlp_http/jaeger"]["sending_queue"]
    assert jaeger.get("sizer") == "bytes" and jaeger["batch"].get("sizer") == "bytes", jaeger
    one_request = int(jaeger["batch"]["max_size"])
    assert one_request == comp.MIN_JAEGER_QUEUE_BYTES == 20 * 2**20
    default = env_default(jaeger["queue_size"])
    limit_mib = env_default(gateway["processors"]["memory_limiter"]["limit_mib"])
    assert one_request <= default <= _queue_bytes_for(soft_limit_bytes(gateway, limit_mib), 1)
    compose = yaml.safe_load((ROOT / "deploy" / "compose.scale-out.yaml").read_text())
    for name in ("otel-gateway-1", "otel-gateway-2"):
        passed = compose["services"][name]["environment"]["OTELCOL_JAEGER_QUEUE_BYTES"]
        assert passed == f"${{OTELCOL_JAEGER_QUEUE_BYTES:-{default}}}", (name, passed)
    _, env, memory_mib = kubernetes_container("collector-gateway.yaml", "Deployment")
    assert env["OTELCOL_MEMORY_LIMIT_MIB"] == "0"
    shipped = int(env["OTELCOL_JAEGER_QUEUE_BYTES"])
    assert one_request <= shipped <= _queue_bytes_for(container_soft_limit_bytes(gateway, memory_mib), 1)
