"""In-process alert rules -> the real Alertmanager: an alert fires with our labels, annotations,
exemplar trace ids and Jaeger link, and resolves when the errors stop."""

from __future__ import annotations

import textwrap
from collections.abc import Iterator
from typing import Any

import pytest

from harness.apps import ExampleServices, clean_env, start_examples
from otelbundle.cli.backends import Backends, poll
from otelbundle.cli.stack import Stack
from tests.e2e.conftest import checkout

RULES = """
groups:
  - name: e2e
    interval: 500ms
    rules:
      - alert: E2ECheckoutErrors
        spans: {service: storefront, kind: server, name: "POST /checkout"}
        expr: error_ratio > 20%
        window: 4s
        for: 0s
        labels: {severity: critical, suite: e2e}
        annotations:
          summary: "{{ $value | humanizePercentage }} of checkouts fail"
"""


@pytest.fixture(scope="module")
def alerting_services(stack: Stack, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ExampleServices]:
    folder = tmp_path_factory.mktemp("alerting")
    (folder / "rules.yaml").write_text(textwrap.dedent(RULES))
    (folder / "otelbundle.yaml").write_text(
        "alerting:\n  rule_files: [rules.yaml]\n  resend_delay: 2s\n  external_labels: {env: e2e}\n"
        '  generator_url: "http://127.0.0.1:16686/trace/{{ $exemplar.trace_id }}"\n'
        "  notify:\n    alertmanager: {url: http://127.0.0.1:9093}\n"
    )
    env = clean_env(
        {
            "OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:4318",
            "OTELBUNDLE_CONFIG": str(folder / "otelbundle.yaml"),
        }
    )
    running = start_examples(env, folder)
    yield running
    running.stop()


def _ours(backends: Backends) -> list[dict[str, Any]]:
    return [a for a in backends.alerts("E2ECheckoutErrors") if a.get("labels", {}).get("suite") == "e2e"]


def test_alert_fires_at_alertmanager_and_resolves(
    alerting_services: ExampleServices, backends: Backends
) -> None:
    failing = [checkout(alerting_services, "FAIL") for _ in range(5)]
    assert {c.status for c in failing} == {502}
    alerts = poll(
        lambda: [a for a in _ours(backends) if a["status"]["state"] == "active"], timeout=30, interval=0.25
    )
    assert alerts, "no E2ECheckoutErrors alert at Alertmanager"
    alert = alerts[0]
    labels = dict(alert["labels"])
    instance = labels.pop("instance", "")
    assert labels == {
        "alertname": "E2ECheckoutErrors",
        "severity": "critical",
        "suite": "e2e",
        "env": "e2e",
        "service_name": "storefront",
    }
    # instance is the storefront's service.instance.id, the one its metrics carry in Prometheus
    series = poll(
        lambda: backends.promql(
            f'count by (service_instance_id) ({{service_name="storefront", service_instance_id="{instance}"}})'
        ),
        timeout=60,
    )
    assert instance and series, f"no storefront series with service_instance_id={instance!r} in Prometheus"
    assert alert["annotations"]["summary"] == "100% of checkouts fail"
    exemplars = alert["annotations"]["trace_ids"].split(",")
    assert set(exemplars) <= {c.trace_id for c in failing}
    assert alert["generatorURL"] == f"http://127.0.0.1:16686/trace/{exemplars[0]}"

    for _ in range(10):
        checkout(alerting_services, "APPLE")
    # The failures leave the 4 s window; the resolved alert is sent at once with endsAt = now.
    resolved = poll(lambda: not [a for a in _ours(backends) if a["status"]["state"] == "active"], timeout=30)
    assert resolved, "the alert did not resolve at Alertmanager"
