"""The demo's checkout SLO, both paths in one run: a 20 % error burst pages in process within
seconds, and the generated Prometheus rules (deploy/prometheus/rules/slo.yaml) page the same
alert through the real collector's span metrics and Prometheus; both reach one Alertmanager.

Starts what it needs on free ports (collector, Prometheus, Alertmanager, the example services);
run it in a network namespace of your own, as every e2e test.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import threading
import time
import urllib.parse
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import yaml

from harness.apps import ExampleServices, Program, clean_env, free_port, start, start_examples

ROOT = Path(__file__).resolve().parents[2]
OTELCOL = Path.home() / ".cache/otelbundle/bin/otelcol-bundle-0.159.0/otelcol-bundle"
ALERT = "CheckoutAvailabilityBudgetBurn"
PAGE_1H = {
    "slo": "checkout-availability",
    "severity": "page",
    "long_window": "1h",
    "short_window": "5m",
    "burn_rate": "14.4",
    "team": "shop",
}


def _binary(path: str | Path) -> str:
    found = (
        shutil.which(str(path))
        if not Path(path).is_absolute()
        else (str(path) if Path(path).exists() else None)
    )
    if found is None:
        pytest.skip(f"{path} not installed")
    return found


@dataclass
class Backends:
    alertmanager: str
    prometheus: str
    otlp: str
    programs: list[Program] = field(default_factory=list)

    def page_alerts(self) -> list[dict[str, Any]]:
        query = urllib.parse.urlencode({"filter": f'alertname="{ALERT}"', "active": "true"})
        with urllib.request.urlopen(f"{self.alertmanager}/api/v2/alerts?{query}", timeout=5) as response:
            alerts = json.load(response)
        return [a for a in alerts if all(a["labels"].get(k) == v for k, v in PAGE_1H.items())]


def _wait(program: Program, url: str) -> None:
    program.wait_http(url, timeout=60)


@pytest.fixture(scope="module")
def backends(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Backends]:
    otelcol, prometheus = _binary(OTELCOL), _binary("prometheus")
    alertmanager = _binary("prometheus-alertmanager")
    folder = tmp_path_factory.mktemp("slo-e2e")
    ports = {
        name: free_port()
        for name in ("grpc", "http", "health", "zpages", "pprof", "metrics", "prom", "am", "closed")
    }
    (folder / "am.yml").write_text("route: {receiver: none, group_wait: 0s}\nreceivers: [{name: none}]\n")
    # The shipped Prometheus rules of the example SLO; span metrics by remote write; rules every 5s.
    (folder / "prometheus.yml").write_text(
        yaml.safe_dump(
            {
                "global": {"evaluation_interval": "5s", "external_labels": {"stack": "e2e"}},
                "rule_files": [str(ROOT / "deploy/prometheus/rules/slo.yaml")],
                "alerting": {
                    "alertmanagers": [{"static_configs": [{"targets": [f"127.0.0.1:{ports['am']}"]}]}]
                },
            }
        )
    )
    # The shipped collector config, on free ports (a second --config merges over the first).
    (folder / "ports.yaml").write_text(
        yaml.safe_dump(
            {
                "receivers": {
                    "otlp": {
                        "protocols": {
                            "grpc": {"endpoint": f"127.0.0.1:{ports['grpc']}"},
                            "http": {"endpoint": f"127.0.0.1:{ports['http']}"},
                        }
                    }
                },
                "extensions": {
                    "health_check": {"endpoint": f"127.0.0.1:{ports['health']}"},
                    "zpages": {"endpoint": f"127.0.0.1:{ports['zpages']}"},
                    "pprof": {"endpoint": f"127.0.0.1:{ports['pprof']}"},
                },
                "service": {
                    "telemetry": {
                        "metrics": {
                            "readers": [
                                {
                                    "pull": {
                                        "exporter": {
                                            "prometheus": {"host": "127.0.0.1", "port": ports["metrics"]}
                                        }
                                    }
                                }
                            ]
                        }
                    }
                },
            }
        )
    )
    env = clean_env(
        {
            "OTELCOL_STORAGE_DIR": str(folder / "otelcol"),
            "PROMETHEUS_REMOTE_WRITE_URL": f"http://127.0.0.1:{ports['prom']}/api/v1/write",
            # No Jaeger or Loki here: their exporters retry against a closed port.
            "JAEGER_OTLP_ENDPOINT": f"http://127.0.0.1:{ports['closed']}",
            "LOKI_OTLP_ENDPOINT": f"http://127.0.0.1:{ports['closed']}/otlp",
        }
    )
    running = Backends(
        f"http://127.0.0.1:{ports['am']}",
        f"http://127.0.0.1:{ports['prom']}",
        f"http://127.0.0.1:{ports['http']}",
    )
    try:
        am = start(
            [
                alertmanager,
                f"--config.file={folder / 'am.yml'}",
                f"--storage.path={folder / 'am'}",
                f"--web.listen-address=127.0.0.1:{ports['am']}",
                "--cluster.listen-address=",
            ],
            env,
            folder,
            instrument=False,
            name="alertmanager",
        )
        running.programs.append(am)
        prom = start(
            [
                prometheus,
                f"--config.file={folder / 'prometheus.yml'}",
                f"--storage.tsdb.path={folder / 'prom'}",
                f"--web.listen-address=127.0.0.1:{ports['prom']}",
                "--web.enable-remote-write-receiver",
            ],
            env,
            folder,
            instrument=False,
            name="prometheus",
        )
        running.programs.append(prom)
        collector = start(
            [otelcol, f"--config={ROOT / 'otel-collector/config.yaml'}", f"--config={folder / 'ports.yaml'}"],
            env,
            folder,
            instrument=False,
            name="otelcol",
        )
        running.programs.append(collector)
        _wait(am, f"{running.alertmanager}/-/ready")
        _wait(prom, f"{running.prometheus}/-/ready")
        _wait(collector, f"http://127.0.0.1:{ports['health']}/")
        yield running
    finally:
        for program in reversed(running.programs):
            program.stop()


@pytest.fixture(scope="module")
def services(backends: Backends, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ExampleServices]:
    env = clean_env(
        {
            "OTEL_EXPORTER_OTLP_ENDPOINT": backends.otlp,
            "OTEL_BSP_SCHEDULE_DELAY": "200",
            "OTEL_BLRP_SCHEDULE_DELAY": "200",
            "OTEL_METRIC_EXPORT_INTERVAL": "5000",
            # The demo's config: its rule files include examples/rules/checkout.slos.yaml.
            "OTELBUNDLE_CONFIG": str(ROOT / "examples/rules/otelbundle.yaml"),
            "ALERTMANAGER_URL": backends.alertmanager,
            "JAEGER_UI_URL": "http://jaeger.invalid",
        }
    )
    running = start_examples(env, tmp_path_factory.mktemp("slo-apps"))
    yield running
    running.stop()


def _checkout(url: str, sku: str) -> str:
    trace_id = os.urandom(16).hex()
    request = urllib.request.Request(
        f"{url}/checkout",
        data=json.dumps({"sku": sku, "qty": 1}).encode(),
        method="POST",
        headers={
            "Content-Type": "application/json",
            "traceparent": f"00-{trace_id}-{os.urandom(8).hex()}-01",
        },
    )
    with contextlib.suppress(urllib.error.HTTPError):
        urllib.request.urlopen(request, timeout=10).close()
    return trace_id


def test_a_20_percent_burst_pages_in_process_within_seconds_and_through_prometheus(
    backends: Backends, services: ExampleServices
) -> None:
    for _ in range(5):  # the pipeline is up: a few good checkouts first
        _checkout(services.storefront_url, "PEAR")
    failed: list[str] = []
    stop = threading.Event()

    def burst() -> None:  # one checkout in five fails, about ten a second, until both paths paged
        n = 0
        while not stop.is_set():
            n += 1
            if n % 5 == 0:
                failed.append(_checkout(services.storefront_url, "FAIL"))
            else:
                _checkout(services.storefront_url, "APPLE")
            time.sleep(0.08)

    thread = threading.Thread(target=burst, daemon=True)
    started = time.monotonic()
    thread.start()
    fired: dict[str, float] = {}
    alerts: dict[str, dict[str, Any]] = {}
    try:
        while time.monotonic() - started < 120 and len(fired) < 2:
            for alert in backends.page_alerts():
                source = alert["labels"].get("source", "")
                if source not in fired:
                    fired[source] = time.monotonic() - started
                    alerts[source] = alert
            time.sleep(0.2)
    finally:
        stop.set()
        thread.join(10)
    print(f"\npage alert after the burst started: {fired} (seconds, by source)")
    assert set(fired) == {"in-process", "prometheus"}, fired
    assert fired["in-process"] < 10
    ours, theirs = alerts["in-process"], alerts["prometheus"]
    assert ours["annotations"]["summary"].startswith("checkout-availability: error budget burning ")
    assert ours["annotations"]["error_budget_remaining"].endswith("%")
    assert theirs["annotations"]["error_budget_remaining"].endswith("%")
    # The in-process page links a failed checkout's trace.
    assert any(trace in ours["generatorURL"] for trace in failed), ours["generatorURL"]
