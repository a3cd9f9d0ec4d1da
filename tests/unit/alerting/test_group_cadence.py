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
    # The manager's loop: wait what tick() says, then evaluate, which takes 30 ms.
    while clock.now < 1009.0:
        clock.now += engine.tick()
        engine.evaluate(clock.now)
        clock.now += 0.03
    # Before: ticks every shortest interval, each pushed back by the evaluation before it, so
    # the 1.5 s group ran about every 2 s and the 1 s group drifted by 30 ms a run.
    assert engine.runs["slow"] == [0.0, 1.5, 3.0, 4.5, 6.0, 7.5, 9.0], engine.runs
    assert engine.runs["fast"] == [0.0, 1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0, 9.0], engine.runs
