"""A failing health check, end to end: gauge in Prometheus, then the shipped Prometheus rule
(failing for 2 minutes) fires in Alertmanager. Takes ~2.5 minutes by design of the rule."""

from __future__ import annotations

import socket
from pathlib import Path

from harness.apps import clean_env, start
from otelbundle.cli.backends import Backends, poll
from otelbundle.cli.stack import Stack

WORKER = str(Path(__file__).parents[1] / "integration" / "health" / "programs" / "worker.py")


def test_failing_check_reaches_prometheus_and_alertmanager(
    stack: Stack, backends: Backends, tmp_path: Path
) -> None:
    with socket.socket() as probe:  # a port that refuses connections
        probe.bind(("127.0.0.1", 0))
        closed_port = probe.getsockname()[1]
    config = tmp_path / "otelbundle.yaml"
    config.write_text(
        "health:\n  interval: 1s\n  timeout: 1s\n  checks:\n"
        f"    - {{name: payments, kind: tcp, host: 127.0.0.1, port: {closed_port}}}\n"
    )
    env = clean_env(
        {
            "OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:4318",
            "OTEL_SERVICE_NAME": "health-e2e",
            "OTEL_METRIC_EXPORT_INTERVAL": "1000",
            "OTELBUNDLE_CONFIG": str(config),
        }
    )
    worker = start(["python", WORKER], env, tmp_path, name="health-worker")
    try:
        query = 'otelbundle_health_check_status{service_name="health-e2e", health_check_name="payments"}'
        series = poll(lambda: backends.promql(query), timeout=60, interval=2)
        assert series and float(series[0]["value"][1]) == 0, f"{query} not 0 in Prometheus: {series}"

        def firing() -> list[dict[str, object]]:
            return [
                a
                for a in backends.alerts("HealthCheckUnhealthy")
                if a["labels"].get("health_check_name") == "payments"
                and a["labels"].get("severity") == "critical"
            ]

        alerts = poll(firing, timeout=240, interval=5)
        assert alerts, "HealthCheckUnhealthy (critical) never reached Alertmanager"
        assert alerts[0]["labels"]["service_name"] == "health-e2e"
    finally:
        worker.stop()
