"""What the span_metrics connector's ``aggregation_cardinality_limit`` bounds, as docs/collector.md
and the comment in otel-collector/config.yaml say: the series of one resource (one process, its
``service.instance.id``), not the collector's total. Runs our collector build with the connector
taken from the shipped config, spans in, its metrics out to the in-process receiver."""

from __future__ import annotations

import json
import time
import urllib.request
import uuid
from collections import defaultdict
from pathlib import Path

import yaml

from harness.apps import ROOT, free_port
from harness.collector import require_collector, running_collector
from harness.otlp_receiver import OtlpReceiver


def _post_spans(port: int, instance: str, names: list[str]) -> None:
    spans = [
        {
            "traceId": uuid.uuid4().hex,
            "spanId": uuid.uuid4().hex[:16],
            "name": name,
            "kind": 2,
            "startTimeUnixNano": "1000",
            "endTimeUnixNano": "2000000",
        }
        for name in names
    ]
    resource = {
        "attributes": [
            {"key": "service.name", "value": {"stringValue": "storefront"}},
            {"key": "service.instance.id", "value": {"stringValue": instance}},
        ]
    }
    body = {"resourceSpans": [{"resource": resource, "scopeSpans": [{"spans": spans}]}]}
    request = urllib.request.Request(
        f"http://127.0.0.1:{port}/v1/traces",
        data=json.dumps(body).encode(),
        headers={"Content-Type": "application/json"},
    )
    deadline = time.monotonic() + 30
    while True:
        try:
            with urllib.request.urlopen(request, timeout=10):
                return
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.2)


def test_the_cardinality_limit_is_per_process_not_in_total(
    tmp_path: Path, otlp_receiver: OtlpReceiver
) -> None:
    require_collector()
    shipped = yaml.safe_load((ROOT / "otel-collector" / "config.yaml").read_text())
    connector = dict(shipped["connectors"]["span_metrics"])
    limit = int(connector["aggregation_cardinality_limit"])
    connector["metrics_flush_interval"] = "1s"
    port = free_port()
    config = {
        "receivers": {"otlp": {"protocols": {"http": {"endpoint": f"127.0.0.1:{port}"}}}},
        "connectors": {"span_metrics": connector},
        "exporters": {"otlp_http": {"endpoint": otlp_receiver.http_endpoint, "compression": "none"}},
        "service": {
            "telemetry": {"metrics": {"level": "none"}},
            "pipelines": {
                "traces": {"receivers": ["otlp"], "exporters": ["span_metrics"]},
                "metrics": {"receivers": ["span_metrics"], "exporters": ["otlp_http"]},
            },
        },
    }
    below, above = limit // 2 + 100, limit + limit // 2  # two below it exceed it together
    with running_collector(tmp_path, config):
        _post_spans(port, "worker-1", [f"GET /item/{i}" for i in range(below)])
        _post_spans(port, "worker-2", [f"GET /item/{i}" for i in range(below)])
        _post_spans(port, "worker-3", [f"GET /item/{i}" for i in range(above)])

        def counted(receiver: OtlpReceiver) -> dict[str, set[str]] | None:
            names: dict[str, set[str]] = defaultdict(set)
            for point in receiver.metrics:
                if point.name.endswith(".calls"):
                    names[str(point.resource.get("service.instance.id"))].add(
                        "overflow"
                        if point.attributes.get("otel.metric.overflow")
                        else str(point.attributes.get("span.name"))
                    )
            return names if sum(map(len, names.values())) >= 2 * below + limit else None

        names = otlp_receiver.wait_for(counted, timeout=30)
    # Each process has its own limit: together they exceed it.
    assert len(names["worker-1"]) == below and len(names["worker-2"]) == below
    assert "overflow" not in names["worker-1"]
    # Past the limit, one process's new span names go into its overflow series.
    assert "overflow" in names["worker-3"]
    assert len(names["worker-3"]) <= limit + 1
    assert sum(map(len, names.values())) > limit
