"""What a tick does besides deciding alerts, and what it leaves to the next fold: the schedule
after a pause, idle windows forgotten, and which keys an early evaluation looks at."""

from __future__ import annotations

from pathlib import Path

from tests.unit.alerting.helpers import Sim, config_from

START = 1_000_000.0


def rule(interval: str = "1s", min_spans: int = 1, group_by: str = "[]") -> str:
    return f"""
groups:
  - name: g
    interval: {interval}
    rules:
      - alert: A
        spans: {{service: shop}}
        expr: error_count > 0
        window: 10s
        min_spans: {min_spans}
        group_by: {group_by}
"""


def test_after_a_pause_the_next_tick_is_an_interval_after_the_resumed_one(tmp_path: Path) -> None:
    """A process stopped for 100 s evaluates once when it resumes, then an interval later, as
    Prometheus skips missed evaluations: no burst of the evaluations it missed."""
    s = Sim(config_from(tmp_path, rule(interval="10s"), "evaluate_on_spans: false\n"))
    s.at(0)
    s.at(100)  # resumed: evaluated (nothing holds)
    s.now = START + 100.5
    s.span(error=True)
    for t in range(101, 110):
        assert s.at(t) == [] and s.state() == "inactive", t
    assert [a.status for a in s.at(110)] == ["firing"]


def test_a_key_without_spans_for_a_whole_window_is_forgotten(tmp_path: Path) -> None:
    """Memory stays bounded by the keys seen lately, not by every key ever seen."""
    s = Sim(config_from(tmp_path, rule(group_by="[http.route]")))
    s.span(error=True, **{"http.route": "/a"})
    s.at(0)
    s.at(10)
    assert set(s.engine.states[("g", "A")].windows) == {("/a",)}
    assert [a.status for a in s.at(11)] == ["resolved"]  # empty, and its last span a window ago
    assert s.engine.states[("g", "A")].windows == {}


def test_keys_a_tick_has_decided_are_not_evaluated_again_by_the_next_fold(tmp_path: Path) -> None:
    s = Sim(config_from(tmp_path, rule()))
    s.span(error=True)  # folded at once: its key waits for an early evaluation
    assert [a.status for a in s.at(0)] == ["firing"]  # the tick got there first
    assert s.engine.fold(s.now) == [] and s.engine.early_evaluations == 0


def test_a_key_an_early_evaluation_found_undecided_is_watched_for_good_spans(tmp_path: Path) -> None:
    """An error makes a key of ``error_count > 0`` worth a look; with fewer than ``min_spans``
    there is no verdict, and then the good span that brings the window to ``min_spans``
    decides it, at once rather than at the next tick."""
    s = Sim(config_from(tmp_path, rule(min_spans=3)))
    s.at(0)
    s.now = START + 0.2
    s.span(error=True)
    assert s.engine.fold(s.now) == [] and s.engine.early_evaluations == 1
    s.now = START + 0.3
    s.span(error=False)
    assert s.engine.fold(s.now) == []
    s.now = START + 0.4
    s.span(error=False)
    sent = s.engine.fold(s.now)
    assert [a.status for a in sent] == ["firing"] and sent[0].starts_at.timestamp() == START + 0.4
