"""A reload keeps what Prometheus' Group.CopyState keeps, and says what waits for a restart."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader

from otelbundle.alerting.manager import RuleFiles, RuleManager
from otelbundle.alerting.telemetry import AlertTelemetry
from tests.unit.alerting.helpers import Recorder, Sim, config_from

RULE = """
groups:
  - name: g
    interval: 1s
    rules:
      - alert: A
        spans: {{service: shop}}
        expr: {expr}
        window: {window}
        for: {for_}
        labels: {{severity: {severity}}}
        annotations: {{summary: "{summary}"}}
"""


def rules(
    expr: str = "error_count > 0",
    window: str = "1m",
    for_: str = "0s",
    severity: str = "page",
    summary: str = "old",
) -> str:
    return RULE.format(expr=expr, window=window, for_=for_, severity=severity, summary=summary)


def firing(tmp_path: Path) -> Sim:
    s = Sim(config_from(tmp_path, rules()))
    s.span(error=True)
    assert [a.status for a in s.at(0)] == ["firing"]
    return s


def reload(s: Sim, tmp_path: Path, text: str) -> None:
    s.engine.reload(config_from(tmp_path, text))


def test_an_edited_annotation_keeps_the_firing_alert_and_its_window(tmp_path: Path) -> None:
    s = firing(tmp_path)
    started = s.recorder.sent[0].starts_at
    reload(s, tmp_path, rules(summary="new"))
    sent = s.at(61)  # resent strictly after resend_delay, still firing from the same start
    assert [(a.status, a.annotations["summary"]) for a in sent] == [("firing", "new")]
    assert sent[0].starts_at == started
    assert s.state() == "firing"


def test_an_edited_for_moves_a_pending_alert_to_its_new_deadline(tmp_path: Path) -> None:
    s = Sim(config_from(tmp_path, rules(for_="10s")))
    s.span(error=True)
    assert s.at(0) == [] and s.state() == "pending"
    reload(s, tmp_path, rules(for_="3s"))
    assert s.at(2) == [] and s.state() == "pending"
    assert [a.status for a in s.at(3)] == ["firing"]  # 3 s after it became pending, not 10


def test_a_raised_for_leaves_a_firing_alert_firing(tmp_path: Path) -> None:
    """Prometheus 2.42 (the one the stack ships) copies a firing alert's state across a reload
    whatever its new `for`: the page already went out, and is not taken back."""
    s = firing(tmp_path)
    started = s.recorder.sent[0].starts_at
    reload(s, tmp_path, rules(for_="10m"))
    assert s.state() == "firing"
    sent = s.at(61)  # re-sent as firing, from the same start; no resolve in between
    assert [a.status for a in sent] == ["firing"] and sent[0].starts_at == started
    assert [a.status for a in s.recorder.sent] == ["firing", "firing"]


def test_an_edited_threshold_is_decided_on_the_kept_window(tmp_path: Path) -> None:
    s = firing(tmp_path)
    for _ in range(3):
        s.span(error=True)
    reload(s, tmp_path, rules(expr="error_count > 10"))
    sent = s.at(1)  # the 4 errors are still in the window: below the new threshold
    assert [a.status for a in sent] == ["resolved"]


def test_a_changed_selection_starts_afresh_as_a_new_rule(tmp_path: Path) -> None:
    """Without the spans of the old windows a kept alert would resolve at the next tick: a
    false all-clear. It starts afresh instead (Alertmanager expires it at its endsAt)."""
    s = firing(tmp_path)
    reload(s, tmp_path, rules(window="2m"))
    assert s.engine.states["g", "A"].windows == {} and s.engine.active.get(("g", "A"), {}) == {}
    assert s.at(1) == []
    s.span(error=True)
    assert [a.status for a in s.at(2)] == ["firing"]


def test_changed_rule_labels_make_a_new_alert(tmp_path: Path) -> None:
    """Prometheus keeps alerts by rule name *and* labels: new labels are a new alert."""
    s = firing(tmp_path)
    reload(s, tmp_path, rules(severity="ticket"))
    assert s.engine.active.get(("g", "A"), {}) == {}
    sent = s.at(1)  # the window was kept: the condition still holds, under the new labels
    assert [(a.status, a.labels["severity"]) for a in sent] == [("firing", "ticket")]


def test_a_removed_rule_leaves_the_alerts_gauge(tmp_path: Path) -> None:
    reader = InMemoryMetricReader()
    telemetry = AlertTelemetry(meter_provider=MeterProvider(metric_readers=[reader]))
    s = Sim(config_from(tmp_path, rules()), telemetry=telemetry)
    s.span(error=True)
    s.at(0)

    def gauge() -> list[dict[str, object]]:
        data = reader.get_metrics_data()
        assert data is not None
        return [
            dict(point.attributes or {})
            for resource in data.resource_metrics
            for scope in resource.scope_metrics
            for metric in scope.metrics
            if metric.name == "otelbundle.alerting.alerts"
            for point in metric.data.data_points
        ]

    assert [p["alertstate"] for p in gauge()] == ["firing"]
    reload(s, tmp_path, rules().replace("alert: A", "alert: B"))
    assert gauge() == []


def test_a_reload_says_which_changed_settings_wait_for_a_restart(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    config = config_from(tmp_path, rules(), "notify: {webhook: {url: 'http://127.0.0.1:9/a'}}\n")
    manager = RuleManager(config, Recorder(), rule_files=RuleFiles(config, {}))  # type: ignore[arg-type]
    config_from(tmp_path, rules(), "span_queue_size: 16\nnotify: {webhook: {url: 'http://127.0.0.1:9/b'}}\n")
    with caplog.at_level(logging.INFO, logger="otelbundle.alerting"):
        assert manager.reload()
    messages = [r.getMessage() for r in caplog.records]
    assert "otelbundle: alert rules reloaded (1 rules)" in messages
    warning = next(m for m in messages if "restart" in m)
    assert warning == (
        f"otelbundle: alerting.notify, alerting.span_queue_size changed in {tmp_path / 'otelbundle.yaml'}; "
        "a reload does not apply them: restart the application (`otelbundle config check` checks it now)"
    )
    caplog.clear()
    with caplog.at_level(logging.INFO, logger="otelbundle.alerting"):
        assert manager.reload()  # said again: what runs is still the start's
    assert any("alerting.notify, alerting.span_queue_size changed" in r.getMessage() for r in caplog.records)
    caplog.clear()
    config_from(tmp_path, rules(summary="x"), "notify: {webhook: {url: 'http://127.0.0.1:9/a'}}\n")
    with caplog.at_level(logging.INFO, logger="otelbundle.alerting"):
        assert manager.reload()  # back to what runs: nothing waits
    assert not [r for r in caplog.records if "restart" in r.getMessage()]


@pytest.mark.parametrize(
    ("new_expr", "kept"),
    [
        ("error_count > 5", True),  # another threshold
        ("error_ratio > 5%", True),  # the same counts, exemplars of errors
        ("count > 100", False),  # exemplars: the newest span, not the newest error
        ("p95 > 250ms", False),  # needs duration bins the window did not keep
    ],
)
def test_an_edited_expr_keeps_the_windows_only_when_they_hold_what_it_reads(
    tmp_path: Path, new_expr: str, kept: bool
) -> None:
    s = firing(tmp_path)
    windows = s.engine.states["g", "A"].windows
    reload(s, tmp_path, rules(expr=new_expr))
    assert (s.engine.states["g", "A"].windows is windows) is kept


def test_a_changed_group_interval_is_the_one_the_kept_alert_expires_by(tmp_path: Path) -> None:
    """endsAt is 4 x max(interval, resend_delay) ahead (Prometheus): after a reload that only
    lengthened the group's interval past resend_delay (60 s), the kept alert uses the new one."""
    s = Sim(config_from(tmp_path, rules(window="10m")))
    s.span(error=True)
    assert [a.status for a in s.at(0)] == ["firing"]
    assert s.recorder.sent[0].ends_at.timestamp() == pytest.approx(s.now + 4 * 60)
    reload(s, tmp_path, rules(window="10m").replace("interval: 1s", "interval: 2m"))
    sent = s.at(120)  # resent at the group's next evaluation, still firing
    assert [a.status for a in sent] == ["firing"]
    assert sent[0].ends_at.timestamp() == pytest.approx(s.now + 4 * 120)


def test_a_removed_rule_leaves_nothing_behind_in_the_engine(tmp_path: Path) -> None:
    """A service whose rules are generated (one per route) reloads many rule sets: what a
    removed rule kept must go with it."""
    s = firing(tmp_path)
    reload(s, tmp_path, rules().replace("alert: A", "alert: B"))
    assert ("g", "A") not in s.engine.loaded_at and ("g", "A") not in s.engine.active
    assert set(s.engine.states) == {("g", "B")}


def test_spans_after_a_reload_that_kept_the_window_still_count(tmp_path: Path) -> None:
    s = firing(tmp_path)  # one error in the window
    reload(s, tmp_path, rules(expr="error_count > 2"))  # an edited threshold keeps the window
    s.span(error=True)
    s.span(error=True)
    assert s.engine.processor.errors == 0  # nothing failed (otelbundle.alerting.spans.failed)
    assert s.at(1) == [] and s.state() == "firing"  # 3 errors now: still above 2, nothing to say


def test_spans_of_new_group_keys_still_go_to_the_overflow_alert_after_a_reload(tmp_path: Path) -> None:
    text = """
    groups:
      - name: g
        rules:
          - alert: A
            spans: {{service: shop}}
            expr: error_count > 0
            group_by: [http.route]
            annotations: {{summary: "{summary}"}}
    """
    s = Sim(config_from(tmp_path, text.format(summary="old"), "max_group_keys: 1\n"))
    s.span(error=True, **{"http.route": "/a"})
    s.span(error=True, **{"http.route": "/b"})  # past max_group_keys
    s.engine.reload(config_from(tmp_path, text.format(summary="new"), "max_group_keys: 1\n"))
    s.span(error=True, **{"http.route": "/c"})
    assert s.engine.processor.errors == 0
    assert s.engine.states[("g", "A")].overflowed_spans == 2  # the count goes on, as the metric does
    overflow = [a for a in s.at(0) if a.labels.get("otel_overflow") == "true"]
    assert [a.annotations["summary"] for a in overflow] == ["new"]
