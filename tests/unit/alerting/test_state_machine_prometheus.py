"""The alert state machine, tick by tick, against what Prometheus' rules/alerting.go does.

Each test pins one thing a mutation of engine.py or outgoing.py changed without any
other test noticing. The Prometheus code each follows (AlertingRule.Eval, needsSending,
sendAlerts, and the notifier's StartsAt/EndsAt in rules/manager.go) is named in the test.
"""

from __future__ import annotations

from pathlib import Path

from otelbundle.alerting.alert import Alert
from tests.unit.alerting.helpers import Sim, config_from

START = 1_000_000.0


def rule(for_: str = "0s", keep: str = "0s", interval: str = "1s") -> str:
    return f"""
groups:
  - name: g
    interval: {interval}
    rules:
      - alert: A
        spans: {{service: shop}}
        expr: error_count > 0
        window: 10s
        for: {for_}
        keep_firing_for: {keep}
        annotations: {{summary: "{{{{ $value }}}} errors"}}
"""


def sim(tmp_path: Path, rules: str, resend: str = "10s") -> Sim:
    return Sim(config_from(tmp_path, rules, f"resend_delay: {resend}\n"))


def statuses(alerts: list[Alert]) -> list[str]:
    return [alert.status for alert in alerts]


def test_a_resend_carries_the_value_of_its_own_evaluation(tmp_path: Path) -> None:
    """Eval updates ``alert.Value`` of an alert that keeps holding at every evaluation;
    a resend (and its ``$value`` annotation) tells today's value, not the first one."""
    s = sim(tmp_path, rule(), resend="9s")  # due at 10: strictly after 0 + 9
    s.span(error=True)
    assert [a.annotations["summary"] for a in s.at(0)] == ["1 errors"]
    s.now = START + 5
    s.span(error=True)
    s.span(error=True)
    resent = s.at(10)
    assert statuses(resent) == ["firing"]
    assert resent[0].value == 3 and resent[0].annotations["summary"] == "3 errors"


def test_a_resend_carries_the_newest_exemplars(tmp_path: Path) -> None:
    """Our addition to Prometheus: the trace links of a resend are the window's exemplars
    at that evaluation, so a new failure is linked while the alert keeps firing."""
    s = sim(tmp_path, rule(), resend="9s")  # due at 10: strictly after 0 + 9
    s.span(error=True, trace_id="aa" * 16)
    assert s.at(0)[0].trace_ids == ("aa" * 16,)
    s.now = START + 5
    s.span(error=True, trace_id="bb" * 16)
    resent = s.at(10)
    assert statuses(resent) == ["firing"] and resent[0].trace_ids[0] == "bb" * 16


def test_starts_at_is_when_it_fired_not_when_it_went_pending(tmp_path: Path) -> None:
    """The notifier sends ``StartsAt: alert.FiredAt``; with ``for`` that is after ActiveAt."""
    s = sim(tmp_path, rule(for_="3s"), resend="9s")  # due at 13: strictly after 3 + 9
    for t in range(4):
        s.span(error=True)
        sent = s.at(t)
    assert statuses(sent) == ["firing"]
    assert sent[0].starts_at.timestamp() == START + 3
    s.span(error=True)
    resent = s.at(13)
    assert statuses(resent) == ["firing"] and resent[0].starts_at.timestamp() == START + 3


def test_every_resend_of_a_resolution_says_when_it_resolved(tmp_path: Path) -> None:
    """``EndsAt = ResolvedAt`` on every send of a resolved alert, not the time of the resend."""
    s = sim(tmp_path, rule())
    s.span(error=True)
    s.at(0)
    for t in range(1, 35):
        s.at(t)
    resolutions = [a for a in s.recorder.sent if a.status == "resolved"]
    assert len(resolutions) == 3  # at 11 (the error left the window), 21, 31
    assert {a.ends_at.timestamp() for a in resolutions} == {START + 11}
    assert {a.starts_at.timestamp() for a in resolutions} == {START}


def test_after_keep_firing_for_it_resolves_at_that_tick(tmp_path: Path) -> None:
    """When keepFiringFor runs out, ``ResolvedAt = ts`` of that evaluation (the endsAt sent),
    not the tick the condition stopped holding."""
    s = sim(tmp_path, rule(keep="4s"), resend="1m")
    s.span(error=True)
    s.at(0)
    for t in range(1, 15):  # the error leaves the window at 11: keep firing until 15
        assert s.at(t) == [] and s.state() == "firing"
    sent = s.at(15)
    assert statuses(sent) == ["resolved"] and sent[0].ends_at.timestamp() == START + 15


def test_an_alert_that_holds_again_after_resolving_is_a_new_alert_sent_at_once(tmp_path: Path) -> None:
    """Eval replaces an inactive alert by a new pending one (ActiveAt = now, LastSentAt zero):
    it fires and is sent at once, though the resolution went out less than resend_delay ago."""
    s = sim(tmp_path, rule(), resend="1m")
    s.span(error=True)
    s.at(0)
    assert statuses(s.at(11)) == ["resolved"]
    s.span(error=True)
    again = s.at(12)
    assert statuses(again) == ["firing"] and s.state() == "firing"
    assert again[0].starts_at.timestamp() == START + 12


def test_an_alert_that_holds_again_after_resolving_waits_for_for_anew(tmp_path: Path) -> None:
    """The new alert is pending from its own ActiveAt: ``for`` counts again from there."""
    s = sim(tmp_path, rule(for_="3s"), resend="1m")
    for t in range(4):
        s.span(error=True)
        s.at(t)
    assert s.state() == "firing"
    for t in range(4, 15):  # the last error leaves the window at 14
        s.at(t)
    assert s.state() == "inactive"
    for t in range(15, 18):
        s.span(error=True)
        assert s.at(t) == [] and s.state() == "pending"
    s.span(error=True)
    assert statuses(s.at(18)) == ["firing"]


def test_ends_at_counts_from_the_group_interval_when_it_is_the_longer(tmp_path: Path) -> None:
    """sendAlerts: ``ValidUntil = ts + 4 * max(interval, resendDelay)``: an interval longer than
    resend_delay (30 s against 10 s) gives 2 minutes, not 40 s."""
    s = sim(tmp_path, rule(interval="30s"))
    s.span(error=True)
    sent = s.at(0)
    assert statuses(sent) == ["firing"]
    assert (sent[0].ends_at - sent[0].starts_at).total_seconds() == 120
