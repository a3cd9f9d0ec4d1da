"""A rule a reload moves to another group (or rule file) is the same rule, not a removed one.

Before, the move resolved its firing alert on Slack, email, a webhook and PagerDuty (``rule
removed by reload``) and, once the moved rule fired again, told them it was firing: a
resolve/refire pair for an alert that never stopped. Prometheus sends Alertmanager nothing
when a group goes, so its users see no such pair; here the moved rule keeps its state, as a
rule edited in place does, and Alertmanager keeps getting the alert's re-sends.
"""

from __future__ import annotations

import textwrap
from pathlib import Path

from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader

from otelbundle.alerting.section import AlertingConfig, load_alerting_config
from otelbundle.alerting.telemetry import AlertTelemetry
from otelbundle.scrub import Scrubber
from tests.unit.alerting.helpers import Sim, config_from
from tests.unit.alerting.test_log_rules import RULES as LOG_RULES
from tests.unit.alerting.test_log_rules import emit
from tests.unit.alerting.test_reload import reload, rules
from tests.unit.alerting.test_reload_resolves import KINDS, after_reload, every_channel, firing_sim


def moved(text: str, group: str = "h") -> str:
    return text.replace("name: g", f"name: {group}")


def test_people_hear_nothing_of_a_move_and_the_alert_resolves_once_when_it_ends(tmp_path: Path) -> None:
    s = Sim(config_from(tmp_path, rules()))
    dispatcher, recordings = every_channel(s)
    s.span(error=True)
    s.at(0)
    s.now += 30
    reload(s, tmp_path, moved(rules()))
    s.span(error=True)  # the condition still holds
    s.at(61)  # a re-send (strictly after resend_delay, as Prometheus): still firing
    s.at(180)  # the errors left the window
    assert dispatcher.flush(10)
    dispatcher.shutdown()
    got = {kind: [(a.name, a.status) for a in recordings[kind].got] for kind in KINDS}
    people = [("A", "firing"), ("A", "resolved")]
    assert got == {
        "slack": people,
        "email": people,
        "webhook": people,
        "pagerduty": people,
        "alertmanager": [("A", "firing"), ("A", "firing"), ("A", "resolved")],
    }
    alerts = recordings["alertmanager"].got
    assert len({a.fingerprint for a in alerts}) == 1 and len({a.starts_at for a in alerts}) == 1
    assert not any(a.ended_by_reload for a in alerts)
    (resolution,) = [a for a in recordings["slack"].got if a.status == "resolved"]
    assert not resolution.ended_by_reload and resolution.ends_at.timestamp() == s.now


def test_a_moved_rule_keeps_its_windows_and_firing_alert(tmp_path: Path) -> None:
    s = firing_sim(tmp_path)
    told = s.recorder.sent[0]
    windows = s.engine.states["g", "A"].windows
    assert after_reload(s, tmp_path, moved(rules())) == []
    assert set(s.engine.states) == {("h", "A")} and s.engine.states["h", "A"].windows is windows
    assert set(s.engine.active) == {("h", "A")} and s.state() == "firing"
    (again,) = s.at(61)  # re-sent strictly after resend_delay, as Prometheus
    assert (again.status, again.fingerprint, again.starts_at) == ("firing", told.fingerprint, told.starts_at)
    s.span(error=True)  # spans reach the moved rule's windows
    assert s.engine.states["h", "A"].windows[()].totals(s.now).count == 2


def test_a_moved_pending_alert_keeps_its_deadline(tmp_path: Path) -> None:
    s = Sim(config_from(tmp_path, rules(for_="10s")))
    s.span(error=True)
    assert s.at(0) == [] and s.state() == "pending"
    reload(s, tmp_path, moved(rules(for_="10s")))
    assert s.at(9) == [] and s.state() == "pending"
    assert [a.status for a in s.at(10)] == ["firing"]  # 10 s after it became pending, not after the move


def test_a_moved_and_edited_rule_is_treated_as_edited_in_place(tmp_path: Path) -> None:
    s = firing_sim(tmp_path)
    assert after_reload(s, tmp_path, moved(rules(summary="new"))) == []
    assert [a.annotations["summary"] for a in s.at(61)] == ["new"]  # strictly after resend_delay
    (ended,) = after_reload(s, tmp_path, moved(rules(summary="new", severity="ticket"), "k"))
    assert (ended.status, ended.labels["severity"]) == ("resolved", "page")
    assert "labels changed" in ended.ended_by_reload
    assert [a.labels["severity"] for a in s.at(61)] == ["ticket"]  # the kept window still holds
    (ended,) = after_reload(s, tmp_path, rules(severity="ticket", window="2m"))
    assert "evaluated afresh" in ended.ended_by_reload


def test_a_rule_moved_to_another_rule_file_and_group(tmp_path: Path) -> None:
    def config(files: dict[str, str]) -> AlertingConfig:
        for name, text in files.items():
            (tmp_path / name).write_text(textwrap.dedent(text))
        names = ", ".join(files)
        (tmp_path / "otelbundle.yaml").write_text(f"alerting:\n  rule_files: [{names}]\n")
        loaded = load_alerting_config(str(tmp_path / "otelbundle.yaml"), {})
        assert loaded is not None
        return loaded

    other = "groups:\n  - name: other\n    rules:\n      - {alert: B, spans: {service: shop}, expr: count > 1000}\n"
    s = Sim(config({"a.yaml": rules(), "b.yaml": other}))
    s.span(error=True)
    assert [a.status for a in s.at(0)] == ["firing"]
    kept_a = "groups:\n  - name: kept\n    rules:\n      - {alert: C, spans: {service: x}, expr: count > 1}\n"
    both = other + textwrap.dedent(rules()).replace("groups:\n", "").replace("name: g", "name: moved")
    s.engine.reload(config({"a.yaml": kept_a, "b.yaml": both}))
    assert s.recorder.sent[1:] == []
    assert s.engine.active["moved", "A"] and s.state() == "firing"


def test_of_two_removed_rules_of_one_name_the_one_with_the_same_labels_is_taken_over(tmp_path: Path) -> None:
    two = rules() + textwrap.dedent(rules(severity="ticket")).replace("groups:\n", "").replace(
        "name: g", "name: g2"
    )
    s = Sim(config_from(tmp_path, two))
    s.span(error=True)
    assert sorted(a.labels["severity"] for a in s.at(0)) == ["page", "ticket"]
    (ended,) = after_reload(s, tmp_path, moved(rules(severity="ticket")))
    assert (ended.labels["severity"], ended.ended_by_reload) == ("page", "rule removed by reload")
    assert s.engine.active["h", "A"][()].labels["severity"] == "ticket"


def test_a_rule_that_stays_is_not_taken_over_by_a_copy_elsewhere(tmp_path: Path) -> None:
    s = firing_sim(tmp_path)
    copy = rules() + textwrap.dedent(moved(rules())).replace("groups:\n", "")
    assert after_reload(s, tmp_path, copy) == []
    assert s.engine.states["g", "A"].windows and s.engine.states["h", "A"].windows == {}
    assert s.engine.active.get(("h", "A"), {}) == {}


def test_a_moved_absent_rule_still_counts_its_wait_from_its_load(tmp_path: Path) -> None:
    s = Sim(config_from(tmp_path, rules(expr="absent")))
    assert s.at(30) == []
    reload(s, tmp_path, moved(rules(expr="absent")))
    assert [a.status for a in s.at(60)] == ["firing"]  # a window without spans since the load


def test_the_gauge_shows_a_moved_alert_once(tmp_path: Path) -> None:
    reader = InMemoryMetricReader()
    telemetry = AlertTelemetry(meter_provider=MeterProvider(metric_readers=[reader]))
    s = Sim(config_from(tmp_path, rules()), telemetry=telemetry)
    s.span(error=True)
    s.at(0)
    reload(s, tmp_path, moved(rules()))
    data = reader.get_metrics_data()
    assert data is not None
    points = [
        dict(point.attributes or {})
        for resource in data.resource_metrics
        for scope in resource.scope_metrics
        for metric in scope.metrics
        if metric.name == "otelbundle.alerting.alerts"
        for point in metric.data.data_points
    ]
    assert [(p["alertname"], p["alertstate"]) for p in points] == [("A", "firing")]


def test_a_moved_log_rule_keeps_its_records_as_evidence(tmp_path: Path) -> None:
    text = LOG_RULES.replace("window: 1m", "window: 5m")
    s = Sim(config_from(tmp_path, text))
    s.engine.scrubber = Scrubber()  # without one, evidence leaves out the records' texts
    for _ in range(3):
        emit(s)
    (told,) = s.at(1)
    assert told.evidence[0].logger == "payments.db"
    reload(s, tmp_path, text.replace("name: logs", "name: moved"))
    (again,) = s.at(62)  # a re-send (strictly after resend_delay), with the records matched before the move
    assert again.status == "firing" and again.evidence == told.evidence
