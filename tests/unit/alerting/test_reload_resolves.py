"""A reload that takes a firing alert away resolves it once on the channels people read.

Without it, Slack, email, a webhook or PagerDuty heard of the alert firing and never of its
end: the rule was no longer evaluated. Alertmanager is told nothing, as Prometheus tells it
nothing when a rule goes (``rules/manager.go`` ``Update`` only stops the old group): the
alert expires there at the ``endsAt`` it was last sent.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from otelbundle.alerting.alert import Alert
from otelbundle.alerting.notify import NotificationDispatcher
from otelbundle.alerting.notify.email import email_message
from otelbundle.alerting.notify.routing import Channel
from otelbundle.alerting.notify.slack import slack_payload
from otelbundle.alerting.notify.webhook import webhook_payload
from tests.unit.alerting.helpers import Sim, config_from
from tests.unit.alerting.test_reload import reload, rules

OTHER = """
groups:
  - name: g
    interval: 1s
    rules:
      - alert: Other
        spans: {service: shop}
        expr: count > 1000
"""


def firing_sim(tmp_path: Path, text: str | None = None) -> Sim:
    s = Sim(config_from(tmp_path, text or rules()))
    s.span(error=True)
    assert [a.status for a in s.at(0)] == ["firing"]
    return s


def after_reload(s: Sim, tmp_path: Path, text: str) -> list[Alert]:
    before = len(s.recorder.sent)
    reload(s, tmp_path, text)
    return s.recorder.sent[before:]


def test_a_removed_rule_resolves_its_firing_alert_saying_why(tmp_path: Path) -> None:
    s = firing_sim(tmp_path)
    told = s.recorder.sent[0]
    s.now += 30
    (ended,) = after_reload(s, tmp_path, OTHER)
    assert ended.status == "resolved" and ended.labels == told.labels
    assert ended.fingerprint == told.fingerprint  # the same alert the channels were told of
    assert ended.starts_at == told.starts_at and ended.ends_at.timestamp() == s.now
    assert ended.ended_by_reload == "rule removed by reload"
    assert ended.annotations["resolved_reason"] == "rule removed by reload"
    assert ended.annotations["summary"] == "old"  # the rule's own annotations, as it last said them
    assert s.engine.active.get(("g", "A")) is None
    assert [a.name for a in s.at(31)] == []  # once: nothing further about it


def test_a_pending_alert_of_a_removed_rule_just_goes(tmp_path: Path) -> None:
    s = Sim(config_from(tmp_path, rules(for_="10s")))
    s.span(error=True)
    assert s.at(0) == [] and s.state() == "pending"
    assert after_reload(s, tmp_path, OTHER) == []  # never notified: nothing to take back


def test_an_already_resolved_alert_of_a_removed_rule_is_not_resolved_again(tmp_path: Path) -> None:
    s = firing_sim(tmp_path)
    assert [a.status for a in s.at(180)] == ["resolved"]  # the window emptied
    assert after_reload(s, tmp_path, OTHER) == []


def test_changed_labels_resolve_the_alert_with_the_old_labels(tmp_path: Path) -> None:
    """Prometheus keeps an alert by rule name and labels: new labels are a new alert, and the
    old one, told to the channels, is over."""
    s = firing_sim(tmp_path)
    (ended,) = after_reload(s, tmp_path, rules(severity="ticket"))
    assert (ended.status, ended.labels["severity"]) == ("resolved", "page")
    assert "labels changed" in ended.ended_by_reload
    assert [(a.status, a.labels["severity"]) for a in s.at(1)] == [("firing", "ticket")]


def test_a_rule_that_starts_afresh_resolves_the_alert_it_forgot(tmp_path: Path) -> None:
    s = firing_sim(tmp_path)
    (ended,) = after_reload(s, tmp_path, rules(window="2m"))
    assert ended.status == "resolved" and "evaluated afresh" in ended.ended_by_reload


def test_the_reason_says_whether_the_windows_or_what_enters_them_changed(tmp_path: Path) -> None:
    """A new `window:` was said as "the spans or records it reads" changed."""
    s = firing_sim(tmp_path)
    (ended,) = after_reload(s, tmp_path, rules(window="2m"))
    assert ended.ended_by_reload.startswith("rule's windows changed by reload (their length")
    s = firing_sim(tmp_path)
    (ended,) = after_reload(s, tmp_path, rules(expr="p99 > 0s"))
    assert ended.ended_by_reload.startswith(
        "rule changed by reload (the spans or records it reads, or what its windows keep of them)"
    )


def test_an_edit_that_keeps_the_alert_sends_nothing(tmp_path: Path) -> None:
    s = firing_sim(tmp_path)
    assert after_reload(s, tmp_path, rules(summary="new")) == []
    assert s.state() == "firing"


class Recording:
    def __init__(self, name: str) -> None:
        self.name = name
        self.got: list[Alert] = []

    def send(self, alerts: Sequence[Alert]) -> None:
        self.got.extend(alerts)


KINDS = ("slack", "email", "webhook", "pagerduty", "alertmanager")


def every_channel(s: Sim) -> tuple[NotificationDispatcher, dict[str, Recording]]:
    """A real dispatcher on the simulation's clock with one recording channel of each kind, each
    with its default repeat_interval (4h for people's channels, every re-send for Alertmanager)."""
    recordings = {kind: Recording(kind) for kind in KINDS}
    dispatcher = NotificationDispatcher(
        [
            Channel(kind, kind, recordings[kind], (), 0.0 if kind == "alertmanager" else 4 * 3600.0)
            for kind in KINDS
        ],
        clock=lambda: s.now,
    )
    s.engine.dispatcher = dispatcher
    return dispatcher, recordings


def test_people_channels_hear_the_resolution_once_and_alertmanager_nothing(tmp_path: Path) -> None:
    s = Sim(config_from(tmp_path, rules()))
    dispatcher, recordings = every_channel(s)
    s.span(error=True)
    s.at(0)
    reload(s, tmp_path, OTHER)
    s.at(60)
    s.at(120)
    assert dispatcher.flush(10)
    dispatcher.shutdown()
    got = {kind: [(a.name, a.status) for a in recordings[kind].got] for kind in KINDS}
    people = [("A", "firing"), ("A", "resolved")]
    assert got == {
        "slack": people,
        "email": people,
        "webhook": people,
        "pagerduty": people,
        "alertmanager": [("A", "firing")],  # expires at its endsAt, as after Prometheus drops a rule
    }


def test_each_channel_shows_why_it_resolved(tmp_path: Path) -> None:
    s = firing_sim(tmp_path)
    (ended,) = after_reload(s, tmp_path, OTHER)
    assert "rule removed by reload" in str(slack_payload([ended])["blocks"])
    assert webhook_payload([ended])["alerts"][0]["annotations"]["resolved_reason"] == "rule removed by reload"
    assert "rule removed by reload" in email_message([ended], "a@example.com", ["b@example.com"]).as_string()
