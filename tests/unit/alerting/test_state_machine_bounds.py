"""Bounds around the state machine that mutation found unpinned: the overflow count of a batch
of spans (the ``spans.overflowed`` metric reads it) and the wall-clock step threshold."""

from __future__ import annotations

from pathlib import Path

from opentelemetry.sdk.resources import Resource

from otelbundle.alerting.clock import STEP, SteadyClock
from otelbundle.alerting.rules import OVERFLOW_KEY
from otelbundle.cli.ruletest import synthetic_span
from tests.unit.alerting.helpers import FakeTime, Sim, config_from

RULES = """
groups:
  - name: g
    interval: 1s
    rules:
      - alert: A
        spans: {service: shop}
        expr: error_count > 0
        window: 10s
        group_by: [http.route]
"""


def test_every_span_of_a_batch_past_max_group_keys_is_counted(tmp_path: Path) -> None:
    """Spans of one new key drained together fold as one tally: the count is of spans, not tallies."""
    s = Sim(config_from(tmp_path, RULES, "max_group_keys: 1\n"))
    s.span(error=True, **{"http.route": "/a"})
    shop = Resource({"service.name": "shop"})
    for _ in range(5):
        span = synthetic_span(
            name="GET /",
            kind="server",
            error=True,
            duration=0.1,
            attributes={"http.route": "/b"},
            resource=shop,
            trace_id=0,
            end=s.now,
        )
        s.processor.on_end(span)
    s.processor.drain(s.now)
    state = s.engine.states[("g", "A")]
    assert set(state.windows) == {("/a",), OVERFLOW_KEY}
    assert state.overflowed_spans == 5
    assert state.windows[OVERFLOW_KEY].totals(s.now).count == 5


def test_a_wall_clock_move_of_exactly_one_step_is_taken() -> None:
    fake = FakeTime()
    steady = SteadyClock(wall=fake.wall, monotonic=fake.monotonic)
    started = steady()
    fake.wall_now += STEP
    assert steady.to_wall(started) == started + STEP
