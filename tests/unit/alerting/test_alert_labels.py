"""An alert's labels as Prometheus builds them (rules/alerting.go, notifier/notifier.go): the
series' labels, the rule's labels over them, ``alertname``; external labels only where absent;
``$labels`` the series' alone; and one alert sent per label set."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from otelbundle.alerting.section import load_alerting_config
from otelbundle.config import ConfigError
from otelbundle.scrub import Scrubber
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


KEY_A = "https://h/p?api_key=abcdefabcdef123456"
KEY_Z = "https://h/p?api_key=zzzzzzzzzzzz999999"


def scrubbed_sim(tmp_path: Path) -> Sim:
    sim = Sim(config_from(tmp_path, grouped(group_by="url.full", labels="", window="3s")))
    sim.engine.scrubber = Scrubber()
    return sim


def test_keys_the_scrubber_makes_alike_send_no_resolution_while_one_still_fires(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """The reviewer's repro: both URLs scrub to api_key=REDACTED. The first key's alert ends
    while the second's fires: Alertmanager must not hear "resolved" for those labels."""
    sim = scrubbed_sim(tmp_path)
    sent = []
    with caplog.at_level(logging.WARNING, logger="otelbundle.alerting"):
        sim.span(error=True, **{"url.full": KEY_A})
        sent += [(0, a.status, a.starts_at.timestamp()) for a in sim.at(0)]
        for t in range(1, 8):
            if t >= 3:
                sim.span(error=True, **{"url.full": KEY_Z})
            sent += [(t, a.status, a.starts_at.timestamp()) for a in sim.at(t)]
    start = 1_000_000.0
    # The first key's alert fires at 0; at 4 its window is empty and the second key's alert,
    # firing since 3, speaks for the labels: no resolution, one firing alert at a time.
    assert sent == [(0, "firing", start), (4, "firing", start + 3)]
    warnings = [
        r.getMessage()
        for r in caplog.records
        if r.name == "otelbundle.alerting" and "same labels" in r.getMessage()
    ]
    assert len(warnings) == 1 and "api_key=REDACTED" in warnings[0] and KEY_A not in warnings[0]


def test_the_labels_resolve_once_when_the_last_of_their_keys_ends(tmp_path: Path) -> None:
    sim = scrubbed_sim(tmp_path)
    sim.span(error=True, **{"url.full": KEY_A})
    sim.span(error=True, **{"url.full": KEY_Z})
    first = sim.at(0)
    assert [a.status for a in first] == ["firing"]  # two keys firing, one alert sent
    later = [(t, a.status) for t in range(1, 6) for a in sim.at(t)]
    assert later == [(4, "resolved")]


def test_a_resolution_waits_while_another_key_of_its_labels_is_pending(tmp_path: Path) -> None:
    """KEY_A fires, then ends while KEY_Z is pending: the labels may fire again at once, so
    "resolved" waits; KEY_Z's condition stops before its ``for`` and the resolution goes out."""
    rules = grouped(group_by="url.full", labels="", window="3s").replace(
        "window: 3s", "window: 3s\n        for: 10s"
    )
    sim = Sim(config_from(tmp_path, rules))
    sim.engine.scrubber = Scrubber()
    sent, states, ends = [], [], []
    for t in range(0, 25):
        if t <= 12:
            sim.span(error=True, **{"url.full": KEY_A})
        if 12 <= t <= 17:
            sim.span(error=True, **{"url.full": KEY_Z})
        for alert in sim.at(t):
            sent.append((t, alert.status))
            ends.append(alert.ends_at.timestamp() - 1_000_000.0)
        states.append(sorted(a.state.value for a in sim.engine.active[("g", "A")].values()))
    assert states[14] == ["firing", "pending"] and states[15] == ["inactive", "pending"]  # KEY_A ended
    assert states[19] == ["inactive", "pending"] and states[20] == ["inactive"]  # KEY_Z dropped
    assert sent == [(10, "firing"), (20, "resolved")]
    assert ends[1] == 15  # the resolution says when KEY_A ended


def test_keys_a_rule_label_makes_alike_are_sent_as_one_alert(tmp_path: Path) -> None:
    """``group_by: [severity]`` under ``labels: {severity: page}``: ERROR and WARN are two keys,
    one label set; one firing alert is sent, at a tick and between ticks."""
    sim = Sim(config_from(tmp_path, grouped()))
    sim.span(error=True, severity="ERROR")
    assert [dict(a.labels) for a in sim.at(0)] == [{"severity": "page", "alertname": "A"}]
    sim.now += 0.5
    sim.span(error=True, severity="WARN")
    assert sim.engine.fold(sim.now) == []  # the WARN key fired between ticks, not sent
    assert [a.state.value for a in sim.engine.active[("g", "A")].values()] == ["firing", "firing"]
    assert sim.at(1) == []


def test_kept_alerts_take_the_new_external_labels_at_a_reload(tmp_path: Path) -> None:
    """The rule file unchanged, ``external_labels`` changed: the kept alert is sent with the new ones."""
    rules = grouped(annotations='env: "{{ $externalLabels.env }}"')
    sim = Sim(config_from(tmp_path, rules, "resend_delay: 2s\nexternal_labels: {env: prod}\n"))
    sim.span(error=True, severity="ERROR")
    (first,) = sim.at(0)
    assert first.labels["env"] == "prod"
    sim.engine.reload(config_from(tmp_path, rules, "resend_delay: 2s\nexternal_labels: {env: staging}\n"))
    resent = [a for t in range(1, 4) for a in sim.at(t)]
    assert [(a.status, a.labels["env"], a.annotations["env"]) for a in resent] == [
        ("firing", "staging", "staging")
    ]
    assert resent[0].starts_at == first.starts_at  # the same alert, kept


def test_a_reload_that_ends_alerts_of_one_label_set_resolves_it_once(tmp_path: Path) -> None:
    sim = scrubbed_sim(tmp_path)
    sim.span(error=True, **{"url.full": KEY_A})
    sim.span(error=True, **{"url.full": KEY_Z})
    assert len(sim.at(0)) == 1
    sim.engine.reload(config_from(tmp_path, grouped(group_by="url.full", labels="team: x", window="3s")))
    (ended,) = sim.recorder.batches[-1]  # its labels changed: both keys' alerts end, one is said
    assert ended.status == "resolved" and ended.labels["url_full"] == "https://h/p?api_key=REDACTED"


def test_the_same_attribute_twice_in_group_by_is_not_a_collision(tmp_path: Path) -> None:
    """Its two positions always hold the same value, so no two keys can share labels; refusing
    it turned off every rule at start where it was accepted before."""
    (tmp_path / "r.yaml").write_text(
        "groups:\n  - name: g\n    rules:\n"
        "      - {alert: A, expr: error_count > 0, group_by: [http.route, http.route]}\n"
    )
    (tmp_path / "c.yaml").write_text("alerting:\n  rule_files: [r.yaml]\n")
    config = load_alerting_config(str(tmp_path / "c.yaml"), {})
    assert config is not None and [r.name for r in config.rules] == ["A"]
