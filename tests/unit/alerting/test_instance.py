"""Every in-process alert carries the process's ``instance``; rules may override or drop it."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from opentelemetry import trace
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider

from otelbundle.alerting.alert import AlertState
from otelbundle.alerting.instance import process_instance_id, process_labels
from tests.unit.alerting.helpers import Sim, config_from

RULE = """
groups:
  - name: g
    interval: 1s
    rules:
      - alert: A
        spans: {{service: shop}}
        expr: error_count > 0
        window: 10s
        labels: {{severity: page{extra}}}
"""


def fired_labels(tmp_path: Path, extra: str = "", instance: str | None = "worker-1") -> dict[str, str]:
    s = Sim(config_from(tmp_path, RULE.format(extra=extra)), instance=instance)
    s.span(error=True)
    sent = s.at(0)
    assert [a.status for a in sent] == ["firing"], sent
    return dict(sent[0].labels)


def test_an_alert_carries_the_instance_it_was_evaluated_in(tmp_path: Path) -> None:
    assert fired_labels(tmp_path) == {"alertname": "A", "severity": "page", "instance": "worker-1"}


def test_a_rule_label_overrides_the_instance(tmp_path: Path) -> None:
    assert fired_labels(tmp_path, ", instance: shop-pool")["instance"] == "shop-pool"


def test_an_empty_rule_label_drops_the_instance_as_in_prometheus(tmp_path: Path) -> None:
    assert fired_labels(tmp_path, ', instance: ""') == {"alertname": "A", "severity": "page"}


def test_no_instance_source_means_no_instance_label(tmp_path: Path) -> None:
    # rules test and tests that build the engine themselves
    assert "instance" not in fired_labels(tmp_path, instance=None)


def test_two_workers_firing_the_same_rule_send_different_alerts(tmp_path: Path) -> None:
    (tmp_path / "w1").mkdir()
    (tmp_path / "w2").mkdir()
    first = fired_labels(tmp_path / "w1", instance="w1")
    second = fired_labels(tmp_path / "w2", instance="w2")
    assert first != second and {first["instance"], second["instance"]} == {"w1", "w2"}


def test_the_process_labels_come_from_the_tracer_providers_resource(monkeypatch: pytest.MonkeyPatch) -> None:
    resource = Resource.create({"service.instance.id": "abc-123", "service.name": "shop"})
    monkeypatch.setattr(trace, "get_tracer_provider", lambda: TracerProvider(resource=resource))
    assert process_labels() == {"instance": "abc-123", "service_name": "shop"}
    monkeypatch.setattr(trace, "get_tracer_provider", lambda: trace.NoOpTracerProvider())
    assert process_labels() == {}


def test_a_fork_child_reports_its_own_instance_id(monkeypatch: pytest.MonkeyPatch) -> None:
    """The SDK regenerates service.instance.id in a fork child; the label follows it."""
    provider = TracerProvider()  # default resource: the SDK's per-process service.instance.id
    monkeypatch.setattr(trace, "get_tracer_provider", lambda: provider)
    parent = process_instance_id()
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # child
        os.close(read)
        os.write(write, process_instance_id().encode())
        os._exit(0)
    os.close(write)
    child = os.read(read, 200).decode()
    os.close(read)
    os.waitpid(pid, 0)
    assert parent and child and child != parent, (parent, child)


def test_alert_states_are_reported_as_prometheus_names_them() -> None:
    assert [s.reported for s in AlertState] == ["pending", "firing", "resolved"]
    assert AlertState.INACTIVE == "inactive"  # compares to its name


def test_external_labels_do_not_override_the_instance(tmp_path: Path) -> None:
    """Prometheus adds an external label only where the alert has none (notifier.go), so the
    workers' alerts stay apart; a rule label is how to replace the instance."""
    s = Sim(
        config_from(tmp_path, RULE.format(extra=""), "external_labels: {instance: pool-a}\n"),
        instance="worker-1",
    )
    s.span(error=True)
    (alert,) = s.at(0)
    assert alert.labels["instance"] == "worker-1"
