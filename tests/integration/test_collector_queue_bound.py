"""The collector's file-backed sending queues are bounded in bytes, so what a long backend outage
queues fits the disk it is on (the Kubernetes agent's emptyDir, 2Gi: over it the kubelet evicts the
pod, and everything queued is gone).

Bounded in batches, 5000 full log batches took 4.4 GB. This runs our collector build with the log
exporter's ``sending_queue`` and ``file_storage/queue`` taken from otel-collector/config.yaml, the
bound scaled down to 8 MiB, the log store down, and feeds it until it refuses.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import yaml

from harness.apps import ROOT, free_port
from harness.collector import post_when_listening, require_collector, running_collector

SCALED_BOUND = 8 * 1024 * 1024
LINES_PER_REQUEST = 2048


def _shipped() -> dict[str, Any]:
    return dict(yaml.safe_load((ROOT / "otel-collector" / "config.yaml").read_text()))


def _request(batch: int) -> bytes:
    def text(value: str) -> dict[str, str]:
        return {"stringValue": value}

    records = [
        {
            "timeUnixNano": str(time.time_ns()),
            "severityText": "INFO",
            "body": text(f"order {batch}-{i} placed for customer {i % 997} with 3 items, payment authorised"),
            "attributes": [
                {"key": "code.filepath", "value": text("/app/storefront/views/checkout.py")},
                {"key": "code.function", "value": text("place_order")},
            ],
        }
        for i in range(LINES_PER_REQUEST)
    ]
    resource = {"attributes": [{"key": "service.name", "value": text("storefront")}]}
    body = {"resourceLogs": [{"resource": resource, "scopeLogs": [{"logRecords": records}]}]}
    return json.dumps(body).encode()


def test_a_backend_outage_fills_the_file_backed_queue_up_to_its_byte_bound_then_refuses(
    tmp_path: Path,
) -> None:
    require_collector()
    shipped = _shipped()
    exporter = shipped["exporters"]["otlp_http/victorialogs"]
    queue = dict(exporter["sending_queue"])
    assert queue.get("storage") == "file_storage/queue", queue
    queue["queue_size"] = SCALED_BOUND  # the shipped sizer, a bound small enough for a test
    storage = dict(shipped["extensions"]["file_storage/queue"])
    storage["directory"] = str(tmp_path / "queue")
    storage["compaction"] = {**storage["compaction"], "directory": str(tmp_path / "queue")}
    port, down = free_port(), free_port()  # nothing listens on `down`: the log store is down
    config = {
        "extensions": {"file_storage/queue": storage},
        "receivers": {"otlp": {"protocols": {"http": {"endpoint": f"127.0.0.1:{port}"}}}},
        "exporters": {
            "otlp_http/victorialogs": {
                "endpoint": f"http://127.0.0.1:{down}/insert/opentelemetry",
                "sending_queue": queue,
                "retry_on_failure": exporter["retry_on_failure"],
            }
        },
        "service": {
            "extensions": ["file_storage/queue"],
            "telemetry": {"metrics": {"level": "none"}},
            # No batch processor: the receiver answers with the queue's refusal.
            "pipelines": {"logs": {"receivers": ["otlp"], "exporters": ["otlp_http/victorialogs"]}},
        },
    }
    with running_collector(tmp_path, config):
        url = f"http://127.0.0.1:{port}/v1/logs"
        statuses = [
            post_when_listening(url, _request(batch), "application/json", 30) for batch in range(40)
        ]  # about 24 MB of requests
    on_disk = sum(f.stat().st_size for f in (tmp_path / "queue").iterdir() if f.is_file())
    accepted = statuses.count(200)
    assert 0 < accepted < len(statuses), f"{accepted} of {len(statuses)} requests queued: {statuses}"
    assert all(status != 200 for status in statuses[accepted:]), statuses
    # bbolt's file grows by doubling at this size (1.2 x the queued bytes at 118 MB, measured).
    assert on_disk <= 2 * SCALED_BOUND, on_disk
