"""The demo's "why": causes read from the collector's own counters and the backend's readiness."""

from __future__ import annotations

import http.server
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from otelbundle.cli.diagnose import SignalPath, explain, exporter_counters

# Captured from otelcol-bundle 0.159.0's :8888/metrics with no backend running.
REAL_METRICS = (Path(__file__).parent / "data" / "collector-exporter-metrics.txt").read_text()


class _Server:
    """Serves /metrics with the given text and /ready with the given status."""

    def __init__(self, metrics: str, ready_status: int) -> None:
        body = metrics.encode()

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                status, payload = (200, body) if self.path == "/metrics" else (ready_status, b"")
                self.send_response(status)
                self.end_headers()
                self.wfile.write(payload)

            def log_message(self, *args: object) -> None:
                pass

        self.httpd = http.server.HTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()


@pytest.fixture
def serve() -> Iterator[list[_Server]]:
    servers: list[_Server] = []
    yield servers
    for server in servers:
        server.httpd.shutdown()


def _paths(url: str) -> dict[str, SignalPath]:
    return {"metrics": SignalPath("prometheus_remote_write", "metric_points", "Prometheus", f"{url}/ready")}


def test_counters_are_summed_per_metric_and_exporter() -> None:
    counters = exporter_counters(REAL_METRICS)
    assert counters[("otelcol_exporter_send_failed_metric_points", "prometheus_remote_write")] == 1
    assert counters[("otelcol_exporter_queue_size", "otlp_http/jaeger")] == 1
    assert counters[("otelcol_exporter_queue_capacity", "otlp_http/loki")] == 5000


def test_a_down_backend_and_failed_sends_are_both_named(serve: list[_Server]) -> None:
    server = _Server(REAL_METRICS, ready_status=503)
    serve.append(server)
    why = explain("metrics", f"{server.url}/metrics", _paths(server.url))
    assert "Prometheus is not ready" in why and "answered 503" in why
    assert "failed to send 1 metric_points to Prometheus" in why
    assert "1 batches wait in the collector's queue" in why
    assert "otelbundle stack logs otelcol-bundle" in why


def test_a_collector_that_does_not_answer_is_named(serve: list[_Server]) -> None:
    server = _Server("", ready_status=200)
    serve.append(server)
    why = explain("metrics", "http://127.0.0.1:9/metrics", _paths(server.url))
    assert "do not answer: is it running?" in why


def test_nothing_wrong_says_so(serve: list[_Server]) -> None:
    healthy = 'otelcol_exporter_sent_metric_points{exporter="prometheus_remote_write"} 42\n'
    server = _Server(healthy, ready_status=200)
    serve.append(server)
    why = explain("metrics", f"{server.url}/metrics", _paths(server.url))
    assert why.startswith("Prometheus is ready and the collector reports no failure")
