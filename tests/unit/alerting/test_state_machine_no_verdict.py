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
