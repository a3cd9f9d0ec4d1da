"""``for`` deadlines between ticks (Engine.fold): a pending alert fires when ``active_at + for``
passes, not at the next tick; a reload that edits ``for`` moves the deadline it waits for."""

from __future__ import annotations

from pathlib import Path

from tests.unit.alerting.helpers import Sim, config_from

START = 1_000_000.0


def rule(for_: str) -> str:
    return f"""
groups:
  - name: g
    interval: 1m
    rules:
      - alert: A
        spans: {{service: shop}}
        expr: error_count > 0
        window: 5m
        for: {for_}
"""


def test_an_edited_for_moves_the_deadline_a_fold_fires_at(tmp_path: Path) -> None:
    s = Sim(config_from(tmp_path, rule("10s")))
    s.span(error=True)
    assert s.at(0) == [] and s.state() == "pending"
    assert s.engine.next_deadline() == START + 10
    s.engine.reload(config_from(tmp_path, rule("3s")))
    assert s.engine.next_deadline() == START + 3
    s.now = START + 2.5
    assert s.engine.fold(s.now) == [] and s.state() == "pending"
    s.now = START + 3
    sent = s.engine.fold(s.now)  # 57 s before the next tick
    assert [a.status for a in sent] == ["firing"] and sent[0].starts_at.timestamp() == START + 3
