"""The wall clock steps (NTP), the engine's durations do not; what leaves says wall time."""

from __future__ import annotations

from datetime import datetime, timezone
from pathlib import Path

from opentelemetry.sdk.resources import Resource

from otelbundle.alerting.clock import SteadyClock
from otelbundle.alerting.engine import Engine
from otelbundle.alerting.manager import RuleManager
from otelbundle.alerting.notify import NotificationDispatcher
from otelbundle.cli.ruletest import synthetic_span
from tests.unit.alerting.helpers import FakeTime, Recorder, config_from

RULES = """
groups:
  - name: g
    interval: 1s
    rules:
      - alert: A
        spans: {service: shop}
        expr: error_count > 0
        window: 5m
        for: 60s
"""


def engine_on(tmp_path: Path, fake: FakeTime) -> tuple[Engine, Recorder, SteadyClock]:
    steady = SteadyClock(wall=fake.wall, monotonic=fake.monotonic)
    recorder = Recorder()
    engine = Engine(config_from(tmp_path, RULES), recorder, clock=steady, to_wall=steady.to_wall)
    return engine, recorder, steady


def error_span(engine: Engine, now: float) -> None:
    span = synthetic_span(
        name="GET /",
        kind="server",
        error=True,
        duration=0.1,
        attributes={},
        resource=Resource({"service.name": "shop"}),
        trace_id=0,
        end=now,
    )
    engine.processor.on_end(span)


def state(engine: Engine) -> str:
    alerts = engine.active[("g", "A")]
    return next(iter(alerts.values())).state.value if alerts else "inactive"


def test_a_wall_clock_step_forward_neither_fires_early_nor_empties_windows(tmp_path: Path) -> None:
    fake = FakeTime()
    engine, recorder, steady = engine_on(tmp_path, fake)
    error_span(engine, steady())
    engine.evaluate(steady())
    assert state(engine) == "pending"
    fake.wall_now += 3600.0  # NTP steps the wall clock an hour ahead
    fake.monotonic_now += 1.0
    fake.wall_now += 1.0
    assert engine.evaluate(steady()) == [] and state(engine) == "pending"  # 1 s of its 60 s
    fake.advance(59.0)
    sent = engine.evaluate(steady())
    assert [a.status for a in sent] == ["firing"]
    # startsAt is the wall clock's reading when it fired, the step included
    assert sent[0].starts_at == datetime.fromtimestamp(fake.wall_now, tz=timezone.utc)
    assert recorder.sent == sent


def test_a_wall_clock_step_back_does_not_stop_evaluation(tmp_path: Path) -> None:
    fake = FakeTime()
    engine, _recorder, steady = engine_on(tmp_path, fake)
    error_span(engine, steady())
    engine.evaluate(steady())
    fake.wall_now -= 3600.0  # an hour back
    for _ in range(60):
        fake.advance(1.0)
        engine.evaluate(steady())
    assert state(engine) == "firing"


def test_the_engine_evaluates_when_its_own_clock_goes_back(tmp_path: Path) -> None:
    """An engine given a clock that steps back (``rules test``, an embedding program) still
    evaluates its groups at each call, rather than waiting until the old time comes again."""
    engine = Engine(config_from(tmp_path, RULES.replace("60s", "0s")), Recorder(), clock=lambda: 0.0)
    now = 1_000_000.0
    engine.evaluate(now)
    now -= 3600.0
    error_span(engine, now)
    assert [a.status for a in engine.evaluate(now + 0.5)] == ["firing"]


def test_the_steady_clock_passes_small_drifts_and_takes_steps() -> None:
    fake = FakeTime()
    steady = SteadyClock(wall=fake.wall, monotonic=fake.monotonic)
    started = steady()
    assert started == fake.wall_now
    fake.wall_now += 0.2  # below a step: outgoing times keep their offset, no jitter between sends
    assert steady.to_wall(started) == started
    fake.wall_now -= 120.2
    assert steady.to_wall(started) == started - 120.0


def test_the_rule_manager_runs_its_engine_on_the_steady_clock(tmp_path: Path) -> None:
    dispatcher = NotificationDispatcher([])
    manager = RuleManager(config_from(tmp_path, RULES), dispatcher)
    assert isinstance(manager.engine.clock, SteadyClock)
    assert manager.engine.to_wall == manager.engine.clock.to_wall
    dispatcher.shutdown()
