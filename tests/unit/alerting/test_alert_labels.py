"""An alert's labels as Prometheus builds them (rules/alerting.go, notifier/notifier.go): the
series' labels, the rule's labels over them, ``alertname``; external labels only where absent;
``$labels`` the series' alone; and one alert sent per label set."""

from __future__ import annotations

from pathlib import Path

import pytest

from otelbundle.alerting.section import load_alerting_config
from otelbundle.config import ConfigError
from tests.unit.alerting.helpers import Sim, config_from

GROUPED = """
groups:
  - name: g
    interval: 1s
    rules:
      - alert: A
        spans: {{service: shop}}
        expr: error_count > 0
        window: {window}
        group_by: [{group_by}]
        labels: {{{labels}}}
        annotations: {{{annotations}}}
"""


def grouped(
    group_by: str = "severity", labels: str = "severity: page", annotations: str = "", window: str = "1m"
) -> str:
    return GROUPED.format(group_by=group_by, labels=labels, annotations=annotations, window=window)


def test_a_rule_label_overrides_the_group_by_label_of_the_same_name(tmp_path: Path) -> None:
    """``labels: {severity: page}`` pages whatever severity the spans carry (alerting.go:369-374)."""
    sim = Sim(config_from(tmp_path, grouped()))
    sim.span(error=True, severity="ERROR")
    (alert,) = sim.at(0)
    assert dict(alert.labels) == {"severity": "page", "alertname": "A"}


def test_external_labels_are_added_only_where_the_alert_has_no_such_label(tmp_path: Path) -> None:
    """notifier.go:356-360: the process's instance, a group-by label and a rule label all win."""
    config = config_from(
        tmp_path,
        grouped(group_by="http.route", labels="team: shop"),
        "external_labels: {instance: pool-a, http_route: ext, team: ext, env: prod}\n",
    )
    sim = Sim(config, instance="worker-1")
    sim.span(error=True, **{"http.route": "/pay"})
    (alert,) = sim.at(0)
    assert dict(alert.labels) == {
        "instance": "worker-1",
        "http_route": "/pay",
        "team": "shop",
        "alertname": "A",
        "env": "prod",
    }


def test_an_instance_external_label_does_not_merge_the_workers_alerts(tmp_path: Path) -> None:
    sent = []
    for worker in ("w1", "w2"):
        (tmp_path / worker).mkdir()
        config = config_from(tmp_path / worker, grouped(), "external_labels: {instance: pool-a}\n")
        sim = Sim(config, instance=worker)
        sim.span(error=True, severity="ERROR")
        sent += sim.at(0)
    assert [a.labels["instance"] for a in sent] == ["w1", "w2"]


def test_an_external_label_fills_a_label_a_rule_empties(tmp_path: Path) -> None:
    """An empty rule label removes the label; the notifier then adds the external one (Prometheus)."""
    config = config_from(tmp_path, grouped(labels='instance: ""'), "external_labels: {instance: pool-a}\n")
    sim = Sim(config, instance="worker-1")
    sim.span(error=True, severity="ERROR")
    (alert,) = sim.at(0)
    assert alert.labels["instance"] == "pool-a"


def test_labels_in_templates_are_the_series_labels_only(tmp_path: Path) -> None:
    """alerting.go:338-340: $labels has the process's and the group-by labels, not the rule's
    labels, alertname or the external labels ($externalLabels has those)."""
    annotations = (
        'sev: "{{ $labels.severity }}", name: "{{ $labels.alertname }}", team: "{{ $labels.team }}", '
        'inst: "{{ $labels.instance }}", env: "{{ $labels.env }}/{{ $externalLabels.env }}"'
    )
    config = config_from(
        tmp_path,
        grouped(labels="severity: page, team: shop", annotations=annotations),
        'external_labels: {env: prod}\ngenerator_url: "http://x/{{ $labels.alertname }}/{{ $labels.team }}"\n',
    )
    sim = Sim(config, instance="worker-1")
    sim.span(error=True, severity="ERROR")
    (alert,) = sim.at(0)
    assert {k: v for k, v in alert.annotations.items() if k != "trace_ids"} == {
        "sev": "ERROR",
        "name": "",
        "team": "",
        "inst": "worker-1",
        "env": "/prod",
    }
    assert alert.labels["severity"] == "page"
    assert alert.generator_url == "http://x/A/shop"  # one link for all rules: it sees the alert's labels


def test_group_by_attributes_that_become_one_label_are_refused_with_their_position(
    tmp_path: Path,
) -> None:
    (tmp_path / "r.yaml").write_text(
        "groups:\n  - name: g\n    rules:\n"
        "      - {alert: A, expr: error_count > 0, group_by: [http.route, http_route, a]}\n"
    )
    (tmp_path / "c.yaml").write_text("alerting:\n  rule_files: [r.yaml]\n")
    with pytest.raises(ConfigError) as caught:
        load_alerting_config(str(tmp_path / "c.yaml"), {})
    lines = [str(p).replace(str(tmp_path) + "/", "") for p in caught.value.problems]
    assert lines == [
        "r.yaml:4:66: group_by: 'http_route' and 'http.route' both become the label 'http_route', "
        "so their alerts would carry the same labels; group by one of them"
    ]
