"""The shipped alertmanager.yml's inhibitions, in a real Alertmanager: a telemetry store that is
down silences the collector's failed exports to that store, and nothing of the applications'.

Reported: any `BackendDown` (Jaeger missing scrapes) suppressed every `*Errors`/`*Latency` alert of
every service, the in-process ones included, with `equal: []`: a tracing outage hid real outages.
"""

from __future__ import annotations

import json
import time
import urllib.request
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest

from harness.alertmanager import alertmanager_binary, running_alertmanager
from harness.apps import ROOT

SHIPPED = ROOT / "deploy" / "alertmanager" / "alertmanager.yml"


@pytest.fixture
def alertmanager(tmp_path: Path) -> Iterator[str]:
    binary = alertmanager_binary()
    if binary is None:
        pytest.skip("no Alertmanager binary (run `otelbundle stack install`)")
    with running_alertmanager(binary, SHIPPED, tmp_path) as url:
        yield url


def _post(url: str, *labels: dict[str, str]) -> None:
    now = datetime.now(timezone.utc)
    body = [
        {
            "labels": {**one, "severity": "critical"},
            "startsAt": now.isoformat(),
            "endsAt": (now + timedelta(minutes=5)).isoformat(),
        }
        for one in labels
    ]
    request = urllib.request.Request(
        f"{url}/api/v2/alerts", json.dumps(body).encode(), {"Content-Type": "application/json"}, method="POST"
    )
    with urllib.request.urlopen(request, timeout=5):
        pass


def _read(url: str) -> dict[str, str]:
    """alertname[/exporter] -> state."""
    with urllib.request.urlopen(f"{url}/api/v2/alerts", timeout=5) as response:
        alerts: list[dict[str, Any]] = json.loads(response.read())
    return {
        "/".join(filter(None, (a["labels"]["alertname"], a["labels"].get("exporter")))): a["status"]["state"]
        for a in alerts
    }


def _states(url: str, count: int) -> dict[str, str]:
    """The states once all ``count`` alerts are known and processed (then a second for inhibition
    to take its sources into account)."""
    deadline = time.monotonic() + 20
    while len(states := _read(url)) != count or "unprocessed" in states.values():
        assert time.monotonic() < deadline, states
        time.sleep(0.2)
    time.sleep(1)
    return _read(url)


def test_a_store_down_silences_only_the_exports_to_it(alertmanager: str) -> None:
    _post(
        alertmanager,
        {"alertname": "BackendDown", "job": "jaeger"},
        {"alertname": "LogStoreDown", "job": "log-store"},
        {"alertname": "CollectorDroppingData", "job": "otel-collector", "exporter": "otlp_http/jaeger"},
        {"alertname": "CollectorDroppingData", "job": "otel-collector", "exporter": "otlp_http/victorialogs"},
        {
            "alertname": "CollectorDroppingData",
            "job": "otel-collector",
            "exporter": "prometheus_remote_write",
        },
        {"alertname": "CollectorQueueFilling", "job": "otel-collector", "exporter": "otlp_http/jaeger"},
        {"alertname": "CheckoutErrors", "service_name": "storefront"},
        {"alertname": "StorefrontLatency", "service_name": "storefront"},
        {"alertname": "PaymentErrors", "service_name": "payments", "instance": "in-process"},
    )
    assert _states(alertmanager, 9) == {
        "BackendDown": "active",
        "LogStoreDown": "active",
        "CollectorDroppingData/otlp_http/jaeger": "suppressed",
        "CollectorDroppingData/otlp_http/victorialogs": "suppressed",
        "CollectorDroppingData/prometheus_remote_write": "active",  # Prometheus is not down
        "CollectorQueueFilling/otlp_http/jaeger": "suppressed",
        "CheckoutErrors": "active",
        "StorefrontLatency": "active",
        "PaymentErrors": "active",
    }
