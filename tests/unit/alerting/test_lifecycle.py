"""The lifecycle mirrors Prometheus rules/alerting.go, step by step in simulated time."""

from __future__ import annotations

from pathlib import Path

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
        for: {for_}
        keep_firing_for: {keep}
        min_spans: {min_spans}
        labels: {{severity: page}}
        annotations: {{summary: "{{{{ $value }}}} errors"}}
"""


def sim(tmp_path: Path, for_: str = "0s", keep: str = "0s", min_spans: int = 1, resend: str = "1m") -> Sim:
    return Sim(
        config_from(
            tmp_path, RULE.format(for_=for_, keep=keep, min_spans=min_spans), f"resend_delay: {resend}\n"
        )
    )


def test_for_zero_fires_at_once_and_is_sent(tmp_path: Path) -> None:
    s = sim(tmp_path)
    s.span(error=True, trace_id="ab" * 16)
    sent = s.at(0)
    assert s.state() == "firing"
    assert [a.status for a in sent] == ["firing"]
    alert = sent[0]
    assert alert.labels == {"alertname": "A", "severity": "page"}
    assert alert.annotations["summary"] == "1 errors"
    assert alert.trace_ids == ("ab" * 16,)
    # endsAt = now + 4 x max(interval 1s, resend_delay 60s)
    assert (alert.ends_at - alert.starts_at).total_seconds() == 240


def test_pending_until_for_then_firing(tmp_path: Path) -> None:
    s = sim(tmp_path, for_="5s")
    s.span(error=True)
    assert s.at(0) == [] and s.state() == "pending"
    s.span(error=True)
    assert s.at(3) == [] and s.state() == "pending"
    sent = s.at(5)
    assert s.state() == "firing" and [a.status for a in sent] == ["firing"]


def test_pending_alert_that_stops_holding_is_dropped_never_sent(tmp_path: Path) -> None:
    s = sim(tmp_path, for_="5s")
    s.span(error=True)
    s.at(0)
    assert s.state() == "pending"
    s.span(error=False)
    s.at(12)  # the error left the 10 s window
    assert s.state() == "inactive"
    assert s.recorder.sent == []


def test_resolves_when_condition_stops_and_resolved_is_sent_at_once(tmp_path: Path) -> None:
    s = sim(tmp_path)
    s.span(error=True)
    s.at(0)
    s.span(error=False)
    sent = s.at(11)
    assert s.state() == "inactive"
    assert [a.status for a in sent] == ["resolved"]
    assert sent[0].ends_at.timestamp() == 1_000_011.0


def test_keep_firing_for_and_its_reset(tmp_path: Path) -> None:
    s = sim(tmp_path, keep="5s")
    s.span(error=True)
    s.at(0)
    s.span(error=False)
    s.at(11)  # condition gone: keep firing
    assert s.state() == "firing"
    s.span(error=True)
    s.at(13)  # holds again: the keep timer resets
    s.span(error=False)
    s.at(24)  # gone again at 24: keep until 29
    assert s.state() == "firing"
    s.at(28)
    assert s.state() == "firing"
    sent = s.at(29)
    assert s.state() == "inactive" and [a.status for a in sent] == ["resolved"]


def test_firing_resent_every_resend_delay_and_resolved_for_15_minutes(tmp_path: Path) -> None:
    s = sim(tmp_path, resend="10s")
    for t in range(0, 31):
        s.span(error=True)
        s.at(t)
    firing_sends = [a for a in s.recorder.sent if a.status == "firing"]
    # At 0, 11 and 22: a re-send comes strictly later than resend_delay after the last one, as
    # Prometheus's needsSending (LastSentAt.Add(resendDelay).Before(ts)); at 10 it is not due yet.
    assert len(firing_sends) == 3
    s.span(error=False)
    s.at(41)
    for t in range(42, 41 + 15 * 60 + 20):
        s.at(t)
    resolved = [a for a in s.recorder.sent if a.status == "resolved"]
    assert len(resolved) == 1 + 15 * 60 // 11  # at once, then every 11 s (ticks of 1 s) for 15 minutes
    assert s.engine.active[("g", "A")] == {}


def test_min_spans_gives_no_verdict_and_the_state_is_kept(tmp_path: Path) -> None:
    s = sim(tmp_path, min_spans=3)
    s.span(error=True)
    s.at(0)
    assert s.state() == "inactive"  # 1 span < 3: no verdict
    s.span(error=True)
    s.span(error=True)
    s.at(1)
    assert s.state() == "firing"
    s.at(10.5)  # 2 of the 3 spans left the window: no verdict, keeps firing
    assert s.state() == "firing"


def test_an_empty_window_does_not_hold(tmp_path: Path) -> None:
    s = sim(tmp_path, min_spans=3)
    for _ in range(3):
        s.span(error=True)
    s.at(0)
    sent = s.at(25)  # no spans at all: resolves (like a vanished Prometheus series)
    assert s.state() == "inactive" and [a.status for a in sent] == ["resolved"]


LOW_TRAFFIC = """
groups:
  - name: g
    interval: 1s
    rules:
      - alert: A
        spans: {service: shop}
        expr: count < 5
        window: 10s
"""


def test_a_below_threshold_rule_does_not_fire_when_traffic_stops(tmp_path: Path) -> None:
    """``count < 5`` reads 0 on an empty window, but no spans is a vanished series:
    an alert there would page for traffic that `absent` is the rule for."""
    s = Sim(config_from(tmp_path, LOW_TRAFFIC))
    for _ in range(7):
        s.span()
    assert s.at(0) == [] and s.state() == "inactive"
    sent = [alert for t in range(1, 25) for alert in s.at(t)]
    assert sent == [] and s.state() == "inactive"


def test_a_below_threshold_rule_fires_on_few_spans_and_resolves_when_they_stop(tmp_path: Path) -> None:
    s = Sim(config_from(tmp_path, LOW_TRAFFIC))
    for _ in range(2):
        s.span()
    assert [a.status for a in s.at(0)] == ["firing"]
    sent = [alert for t in range(1, 25) for alert in s.at(t)]
    assert [a.status for a in sent] == ["resolved"] and s.state() == "inactive"
