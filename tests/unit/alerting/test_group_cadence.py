"""Each group is evaluated on its own interval, as Prometheus's per-group tickers do."""

from __future__ import annotations

from pathlib import Path

from otelbundle.alerting.alert import Alert
from otelbundle.alerting.engine import Engine
from otelbundle.alerting.state import RuleState
from tests.unit.alerting.helpers import Recorder, config_from

RULES = """
groups:
  - name: fast
    interval: 1s
    rules:
      - {alert: F, spans: {service: shop}, expr: error_count > 0, window: 5m}
  - name: slow
    interval: 1500ms
    rules:
      - {alert: S, spans: {service: shop}, expr: error_count > 0, window: 5m}
"""


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


class Recording(Engine):
    def __init__(self, *args: object, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
        self.runs: dict[str, list[float]] = {"fast": [], "slow": []}

    def _evaluate_rule(self, state: RuleState, now: float) -> list[Alert]:
        self.runs[state.rule.group].append(round(now - 1000.0, 3))
        return super()._evaluate_rule(state, now)


def test_groups_keep_their_own_interval_when_each_evaluation_takes_time(tmp_path: Path) -> None:
    clock = Clock()
    engine = Recording(config_from(tmp_path, RULES), Recorder(), clock=clock)
    # The manager's loop: wait what tick() says (the first time, the shortest interval), then
    # evaluate, which takes 30 ms.
    while clock.now < 1009.0:
        clock.now += engine.tick()
        engine.evaluate(clock.now)
        clock.now += 0.03
    # Before: ticks every shortest interval, each pushed back by the evaluation before it, so
    # the 1.5 s group ran about every 2 s and the 1 s group drifted by 30 ms a run.
    assert engine.runs["slow"] == [1.0, 2.5, 4.0, 5.5, 7.0, 8.5], engine.runs
    assert engine.runs["fast"] == [1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0, 9.0], engine.runs


def test_a_caller_stepping_by_the_interval_meets_every_evaluation(tmp_path: Path) -> None:
    """`rules test` steps its clock by adding the interval, as the engine adds it to a group's
    due time; the two sums differ by a rounding error, and 0.6 s of a 300 ms group was skipped."""
    clock = Clock()
    engine = Recording(
        config_from(tmp_path, RULES.replace("1500ms", "300ms").replace("1s", "300ms")),
        Recorder(),
        clock=clock,
    )
    tick = 0.0
    for _ in range(40):
        engine.evaluate(1_000_000.0 + tick)  # rules test's simulated epoch, where 0.6 s was missed
        tick += 0.3
    assert len(engine.runs["fast"]) == len(engine.runs["slow"]) == 40, engine.runs
