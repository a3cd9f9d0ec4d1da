"""Where spans replace series: a window with some but fewer than ``min_spans`` spans gives no
verdict, and the alert keeps its state (docs/alerting.md, "Spans instead of series").

A span at t lives in a 10 s window of 1 s sub-buckets until t + 11, so these tests put the
spans where the window really holds fewer than ``min_spans`` of them at the ticks they read.
"""

from __future__ import annotations

from pathlib import Path

from tests.unit.alerting.helpers import Sim, config_from

START = 1_000_000.0
RULE = """
groups:
  - name: g
    interval: 1s
    rules:
      - alert: A
        spans: {service: shop}
        expr: error_count > 0
        window: 10s
        min_spans: 3
        keep_firing_for: {keep}
"""


def sim(tmp_path: Path, keep: str = "0s") -> Sim:
    return Sim(config_from(tmp_path, RULE.replace("{keep}", keep), "resend_delay: 1m\n"))


def test_a_firing_alert_with_too_few_spans_keeps_firing_until_the_window_is_empty(tmp_path: Path) -> None:
    s = sim(tmp_path)
    for _ in range(3):
        s.span(error=True)
    assert [a.status for a in s.at(0)] == ["firing"]
    s.now = START + 5
    s.span(error=True)
    for t in range(1, 16):  # from 11 the window holds the one span of 5: no verdict
        assert s.at(t) == [] and s.state() == "firing", t
    sent = s.at(16)  # the window is empty: the series is gone
    assert [a.status for a in sent] == ["resolved"] and sent[0].ends_at.timestamp() == START + 16


def test_no_verdict_neither_starts_nor_runs_out_keep_firing_for(tmp_path: Path) -> None:
    """``keep_firing_for`` counts from the first tick the condition does not hold; ticks without
    a verdict are not such ticks."""
    s = sim(tmp_path, keep="2s")
    for _ in range(3):
        s.span(error=True)
    s.at(0)
    s.now = START + 5
    s.span(error=True)
    for t in range(1, 18):  # no verdict 11 to 15, empty from 16: keep firing until 18
        assert s.at(t) == [] and s.state() == "firing", t
    assert [a.status for a in s.at(18)] == ["resolved"]


def test_a_pending_alert_does_not_fire_on_ticks_without_a_verdict(tmp_path: Path) -> None:
    """Prometheus moves a pending alert to firing only at an evaluation where its series is in
    the result. Here the condition held at 0 (pending, ``for: 15s``), then from 11 the window
    held one span, too few for a verdict: the alert fired at 15 without anything holding."""
    s = Sim(config_from(tmp_path, RULE.replace("{keep}", "0s") + "        for: 15s\n", "resend_delay: 1m\n"))
    for _ in range(3):
        s.span(error=True)
    assert s.at(0) == [] and s.state() == "pending"
    s.now = START + 5
    s.span(error=True)
    for t in range(1, 16):  # from 11 the window holds the one span of 5: no verdict, still pending
        assert s.at(t) == [] and s.state() == "pending", t
    assert s.at(16) == [] and s.state() == "inactive"  # the window is empty: the series is gone


def test_a_pending_alert_past_its_for_fires_at_the_first_tick_that_holds_again(tmp_path: Path) -> None:
    s = Sim(config_from(tmp_path, RULE.replace("{keep}", "0s") + "        for: 15s\n", "resend_delay: 1m\n"))
    for _ in range(3):
        s.span(error=True)
    assert s.at(0) == [] and s.state() == "pending"
    s.now = START + 8
    s.span(error=True)
    for t in range(1, 15):  # from 11 one span of 8: no verdict
        s.at(t)
    s.now = START + 15
    s.span(error=True)
    s.span(error=True)  # 8, 15, 15: three spans again, holding at 15, 15 s after it went pending
    sent = s.at(15)
    assert [a.status for a in sent] == ["firing"] and sent[0].starts_at.timestamp() == START + 15
