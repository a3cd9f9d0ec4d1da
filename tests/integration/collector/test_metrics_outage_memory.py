"""A Prometheus outage must not become a trace and log outage.

Every pipeline starts with `memory_limiter`, which refuses everything once the heap passes its soft
limit. The remote-write exporter queues in memory, bounded in requests only; with 10 000 requests
of any size, a Prometheus outage grew that queue until the limiter refused traces and logs too
(measured: 1.2 million data points, 20 minutes at 1000 points/s, at the default 1 GiB). The shipped
config now caps a metrics request at `batch/metrics`'s `send_batch_max_size` data points and the
queue at OTELCOL_METRICS_QUEUE_SIZE requests, so a full queue stays far below the soft limit and
further metrics are dropped and counted by the exporter instead.

Here our collector build runs otel-collector/config.yaml whole (only its listening ports and
folders moved to free ones), with the memory limit scaled down so the test is quick, and the queue
sized by the same rule as the shipped defaults (docs/collector.md, "The collector's memory"):
Prometheus refuses every connection, metrics arrive at full speed until the queue is full and its
drops are counted, then traces and logs sent must still be accepted and reach their backends (the
in-process receiver).
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest
import yaml
from opentelemetry.proto.collector.metrics.v1 import metrics_service_pb2
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2
from opentelemetry.proto.metrics.v1 import metrics_pb2
from opentelemetry.proto.trace.v1 import trace_pb2

from harness.apps import ROOT, free_port
from harness.collector import post_when_listening, require_collector, running_collector
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

# Small enough that the old config reached it in seconds; the shipped rule sizes the queue from it.
MEMORY_LIMIT_MIB = 128
# What one queued data point of the requests below costs the collector's heap: 200 000 of them
# queued took +407 MiB after a forced GC (docs/collector.md). The shipped sizes use this figure.
HEAP_PER_POINT = 2135
POINTS_PER_REQUEST = 1000
# A generous bound on the metrics sent, not a timing: the old config refused at a few hundred.
MAX_METRICS_REQUESTS = 3000
# The queue stays full under the flood that goes on: these are dropped too, none refused.
MORE_AFTER_THE_FIRST_DROP = 50
TRACES, LOGS = 20, 20


BOUNDS = [5.0, 10.0, 25.0, 50.0, 75.0, 100.0, 250.0, 500.0, 750.0, 1000.0, 2500.0, 5000.0, 7500.0, 10000.0]


def _metrics(request: int) -> bytes:
    """POINTS_PER_REQUEST histogram points of http.server.request.duration, a route each."""
    now = time.time_ns()
    points = [
        metrics_pb2.HistogramDataPoint(
            attributes=[
                text("http.request.method", "GET"),
                text("http.route", f"/catalogue/{request}/items/{i}"),
                text("http.response.status_code", "200"),
                text("url.scheme", "http"),
                text("network.protocol.version", "1.1"),
            ],
            start_time_unix_nano=now - 10**9,
            time_unix_nano=now,
            count=15,
            sum=1234.5,
            bucket_counts=[1] * (len(BOUNDS) + 1),
            explicit_bounds=BOUNDS,
        )
        for i in range(POINTS_PER_REQUEST)
    ]
    histogram = metrics_pb2.Histogram(
        data_points=points,
        aggregation_temporality=metrics_pb2.AGGREGATION_TEMPORALITY_CUMULATIVE,
    )
    metric = metrics_pb2.Metric(name="http.server.request.duration", unit="ms", histogram=histogram)
    scope = metrics_pb2.ScopeMetrics(metrics=[metric])
    body = metrics_service_pb2.ExportMetricsServiceRequest(
        resource_metrics=[metrics_pb2.ResourceMetrics(resource=RESOURCE, scope_metrics=[scope])]
    )
    return body.SerializeToString()


def _span(i: int) -> bytes:
    span = trace_pb2.Span(
        trace_id=(i + 1).to_bytes(16, "big"),
        span_id=(i + 1).to_bytes(8, "big"),
        name=f"after-the-flood-{i}",
        kind=trace_pb2.Span.SPAN_KIND_SERVER,
        start_time_unix_nano=time.time_ns() - 10**6,
        end_time_unix_nano=time.time_ns(),
    )
    body = trace_service_pb2.ExportTraceServiceRequest(
        resource_spans=[
            trace_pb2.ResourceSpans(resource=RESOURCE, scope_spans=[trace_pb2.ScopeSpans(spans=[span])])
        ]
    )
    return body.SerializeToString()


def _queue_size_for(soft_limit: float, config: dict[str, Any]) -> int:
    """The shipped rule: a queue of full requests takes at most a quarter of the soft limit (bytes)."""
    points = int(config["processors"]["batch/metrics"]["send_batch_max_size"])
    return max(1, int(soft_limit // 4 // (points * HEAP_PER_POINT)))


REMOTE_WRITE = {"exporter": "prometheus_remote_write"}


def _dropped(port: int) -> float:
    """Metric points the remote-write queue refused: the exporter's own count of its drops."""
    return own_metric(port, "otelcol_exporter_enqueue_failed_metric_points", **REMOTE_WRITE)


def test_traces_and_logs_are_accepted_and_delivered_while_prometheus_is_down(
    tmp_path: Path, otlp_receiver: OtlpReceiver, monkeypatch: pytest.MonkeyPatch
) -> None:
    require_collector()
    otlp_port, metrics_port, prometheus_down = free_port(), free_port(), free_port()
    config = shipped_config(tmp_path, otlp_port, metrics_port)
    environment = {
        "OTELCOL_MEMORY_LIMIT_MIB": str(MEMORY_LIMIT_MIB),
        "JAEGER_OTLP_ENDPOINT": otlp_receiver.http_endpoint,
        "VICTORIALOGS_OTLP_ENDPOINT": otlp_receiver.http_endpoint,
        # Nothing listens there: every remote write is refused, as when Prometheus is down.
        "PROMETHEUS_REMOTE_WRITE_URL": f"http://127.0.0.1:{prometheus_down}/api/v1/write",
    }
    if "batch/metrics" in config["processors"]:
        soft_limit = soft_limit_bytes(config, MEMORY_LIMIT_MIB)
        environment["OTELCOL_METRICS_QUEUE_SIZE"] = str(_queue_size_for(soft_limit, config))
    for name, value in environment.items():
        monkeypatch.setenv(name, value)
    base = f"http://127.0.0.1:{otlp_port}"
    with running_collector(tmp_path, config, stop_within=10):
        statuses, first_drop = flood_until_dropping(
            f"{base}/v1/metrics",
            _metrics,
            lambda: _dropped(metrics_port),
            MAX_METRICS_REQUESTS,
            more=MORE_AFTER_THE_FIRST_DROP,
            every=10,
        )
        trace_statuses = [post_when_listening(f"{base}/v1/traces", _span(i), PROTOBUF) for i in range(TRACES)]
        log_statuses = [post_when_listening(f"{base}/v1/logs", log_request(i), PROTOBUF) for i in range(LOGS)]
        refused_metrics = [s for s in statuses if s != 200]
        context = (
            f"{len(statuses)} metrics requests sent, refused {refused_metrics}, first drop after {first_drop}\n"
            + (tmp_path / "collector.log").read_text()[-3000:]
        )
        assert set(trace_statuses) == {200}, f"traces answered {trace_statuses}; {context}"
        assert set(log_statuses) == {200}, f"logs answered {log_statuses}; {context}"
        otlp_receiver.wait_for(lambda r: len(r.spans) >= TRACES and len(r.logs) >= LOGS, timeout=60)
        assert not refused_metrics, context
        assert first_drop is not None, context
        queued = own_metric(metrics_port, "otelcol_exporter_queue_size", **REMOTE_WRITE)
        assert _dropped(metrics_port) > 0 and queued <= int(environment["OTELCOL_METRICS_QUEUE_SIZE"]), (
            context
        )
        assert own_metric(metrics_port, "otelcol_receiver_refused_metric_points") == 0, context


def test_the_shipped_queue_sizes_keep_to_a_quarter_of_each_soft_limit() -> None:
    """The defaults the test above scales down: the files' 1 GiB, and the Kubernetes agent's, which
    sets the queue in its manifest. There memory_limiter runs on percentages of the container
    (OTELCOL_MEMORY_LIMIT_MIB=0), and its soft limit is 60 % of the container, not 80 % of 80 %
    (the spike allowance is 20 % of the container too)."""
    config: dict[str, Any] = yaml.safe_load((ROOT / "otel-collector" / "config.yaml").read_text())
    limiter = config["processors"]["memory_limiter"]
    queue = config["exporters"]["prometheus_remote_write"]["remote_write_queue"]
    soft_limit = soft_limit_bytes(config, env_default(limiter["limit_mib"]))
    assert env_default(queue["queue_size"]) <= _queue_size_for(soft_limit, config)
    for name in ("metrics", "metrics/span_metrics"):  # config.yaml's and, with agent.yaml, the agent's
        for file in ("config.yaml", "agent.yaml"):
            pipeline = yaml.safe_load((ROOT / "otel-collector" / file).read_text())["service"][
                "pipelines"
            ].get(name)
            assert pipeline is None or "batch/metrics" in pipeline["processors"], (file, name)
    _, env, memory_mib = kubernetes_container("collector-agent.yaml", "DaemonSet")
    assert env["OTELCOL_MEMORY_LIMIT_MIB"] == "0"
    soft_limit = container_soft_limit_bytes(config, memory_mib)
    assert int(env["OTELCOL_METRICS_QUEUE_SIZE"]) <= _queue_size_for(soft_limit, config), memory_mib
