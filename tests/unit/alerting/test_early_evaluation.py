"""Evaluation between ticks (Engine.fold): only transitions towards firing, only for keys that
received spans able to make the condition hold, and `for` deadlines; the tick stays Prometheus'.

The last test is a differential one: the same spans through an engine that evaluates only at
ticks and one that also evaluates early must agree at every tick, except that the early one
may already be firing; and every alert the early one fires held at every tick since it went
pending, and for at least `for`.
"""

from __future__ import annotations

import itertools
import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.trace import StatusCode

from otelbundle.alerting.alert import Alert
from otelbundle.alerting.early import rising_test
from otelbundle.alerting.manager import RuleManager
from otelbundle.alerting.rules import parse_expr
from otelbundle.config import parse_duration
from tests.unit.alerting.helpers import Recorder, Sim, config_from

START = 1_000_000.0


def rule(expr: str = "error_count > 0", for_: str = "0s", keep: str = "0s", min_spans: int = 1) -> str:
    return f"""
groups:
  - name: g
    interval: 1s
    rules:
      - alert: A
        spans: {{service: shop}}
        expr: {expr}
        window: 10s
        min_spans: {min_spans}
        for: {for_}
        keep_firing_for: {keep}
        labels: {{severity: page}}
"""


class EarlySim(Sim):
    """Sim, plus spans folded (and evaluated early) at their own time, between ticks."""

    def arrive(self, seconds: float, **span: object) -> list:  # type: ignore[type-arg]
        self.now = START + seconds
        self.span(**span)  # type: ignore[arg-type]
        return self.engine.fold(self.now)

    def fold_at(self, seconds: float) -> list:  # type: ignore[type-arg]
        self.now = START + seconds
        return self.engine.fold(self.now)


def sim(tmp_path: Path, rules: str, alerting: str = "resend_delay: 1m\n") -> EarlySim:
    return EarlySim(config_from(tmp_path, rules, alerting))


def test_an_error_between_ticks_fires_at_once(tmp_path: Path) -> None:
    s = sim(tmp_path, rule())
    assert s.at(0) == []
    sent = s.arrive(0.3, error=True, trace_id="ab" * 16)
    assert [a.status for a in sent] == ["firing"] and s.state() == "firing"
    alert = sent[0]
    assert alert.starts_at.timestamp() == START + 0.3
    # endsAt as at a tick: now + 4 x max(interval 1s, resend_delay 60s)
    assert (alert.ends_at - alert.starts_at).total_seconds() == 240
    assert s.recorder.sent == sent
    assert s.at(1) == []  # the tick does not send it again before resend_delay


def test_spans_that_cannot_make_it_hold_evaluate_nothing(tmp_path: Path) -> None:
    s = sim(tmp_path, rule())
    s.at(0)
    for i in range(5):
        assert s.arrive(0.1 + i / 10, error=False) == []
    assert s.engine.early_evaluations == 0
    assert s.state() == "inactive"


def test_pending_at_the_span_and_firing_when_for_elapses_between_ticks(tmp_path: Path) -> None:
    s = sim(tmp_path, rule(for_="2500ms"))
    s.at(0)
    assert s.arrive(0.4, error=True) == [] and s.state() == "pending"
    assert s.engine.next_deadline() == START + 0.4 + 2.5
    s.span(error=True)
    for t in (1, 2):
        assert s.at(t) == [] and s.state() == "pending"
    assert s.fold_at(2.8) == [] and s.state() == "pending"  # not before its deadline
    sent = s.fold_at(2.9)
    assert [a.status for a in sent] == ["firing"]
    assert sent[0].starts_at.timestamp() == START + 2.9


def test_a_pending_alert_is_dropped_only_at_a_tick(tmp_path: Path) -> None:
    s = sim(tmp_path, rule(expr="error_ratio > 50%", for_="5s"))
    s.at(0)
    s.arrive(0.2, error=True)
    assert s.state() == "pending"
    for i in range(3):  # the ratio falls to 25 % between ticks: nothing happens yet
        s.arrive(0.3 + i / 10, error=False)
    s.arrive(0.6, error=True)  # evaluated early (an error): 40 % does not hold, still nothing
    assert s.state() == "pending" and s.engine.early_evaluations == 2
    s.at(1)
    assert s.state() == "inactive" and s.recorder.sent == []


def test_a_firing_alert_resolves_and_keeps_firing_only_at_ticks(tmp_path: Path) -> None:
    s = sim(tmp_path, rule(expr="error_ratio > 50%", keep="2s"))
    s.at(0)
    s.arrive(0.2, error=True)
    assert s.state() == "firing"
    for i in range(3):
        s.arrive(0.3 + i / 10, error=False)
    assert s.state() == "firing"
    s.at(1)  # not holding: keep_firing_for starts at the tick
    alert = next(iter(s.engine.active[("g", "A")].values()))
    assert alert.keep_firing_since == START + 1
    s.at(2)
    assert s.state() == "firing"
    sent = s.at(3)
    assert [a.status for a in sent] == ["resolved"] and sent[0].ends_at.timestamp() == START + 3


def test_no_resend_between_ticks(tmp_path: Path) -> None:
    s = sim(tmp_path, rule(), "resend_delay: 1s\n")
    s.at(0)
    s.arrive(0.1, error=True)
    assert s.arrive(1.5, error=True) == []  # firing already: the tick resends
    assert [a.status for a in s.at(2)] == ["firing"]


def test_a_key_below_min_spans_is_watched_for_any_span(tmp_path: Path) -> None:
    s = sim(tmp_path, rule(expr="error_ratio > 30%", min_spans=4))
    s.at(0)
    s.arrive(0.1, error=True)
    s.arrive(0.2, error=False)
    assert s.at(1) == [] and s.state() == "inactive"  # 2 spans: no verdict
    s.arrive(1.2, error=False)
    sent = s.arrive(1.3, error=False)  # a good span gives the verdict: 1 in 4 = 25 %: no
    assert sent == [] and s.state() == "inactive"
    (tmp_path / "b").mkdir()
    s2 = sim(tmp_path / "b", rule(expr="error_ratio > 30%", min_spans=3))
    s2.at(0)
    s2.arrive(0.1, error=True)
    s2.arrive(0.2, error=False)
    s2.at(1)
    sent = s2.arrive(1.3, error=False)  # the third span, a good one, makes 33 % hold
    assert [a.status for a in sent] == ["firing"]


def test_latency_rules_wake_only_on_spans_slower_than_the_threshold(tmp_path: Path) -> None:
    s = sim(tmp_path, rule(expr="p50 > 500ms"))
    s.at(0)
    s.arrive(0.1, duration=0.2)
    s.at(1)
    early = s.engine.early_evaluations
    for i in range(5):
        s.arrive(1.1 + i / 100, duration=0.3)
    assert s.engine.early_evaluations == early  # fast spans cannot raise p50 above 500 ms
    fired_at = []
    for i in range(8):
        if s.arrive(1.5 + i / 100, duration=2.0):
            fired_at.append(i + 1)
    assert s.engine.early_evaluations == early + 8
    assert fired_at == [7]  # 7 slow in 13: the median is slow


def test_off_means_ticks_only(tmp_path: Path) -> None:
    s = sim(tmp_path, rule(for_="1500ms"), "evaluate_on_spans: false\n")
    s.at(0)
    assert s.arrive(0.3, error=True) == [] and s.state() == "inactive"
    assert s.engine.next_deadline() == math.inf
    s.at(1)
    assert s.state() == "pending"
    s.span(error=True)
    assert s.fold_at(2.6) == [] and s.state() == "pending"
    s.span(error=True)
    assert [a.status for a in s.at(3)] == ["firing"]


def test_rising_tests() -> None:
    def rises(expr: str, count: int, errors: int, longest: float) -> bool | None:
        test = rising_test(
            parse_expr(expr, lambda text: parse_duration(text) if text[-1] == "s" else float(text))
        )
        return None if test is None else test(count, errors, longest)

    assert rises("error_count > 2", 5, 0, 9.0) is False
    assert rises("error_ratio > 0.1", 5, 1, 0.0) is True
    assert rises("count > 10", 1, 0, 0.0) is True
    assert rises("p99 > 250ms", 10, 0, 0.25) is False
    assert rises("p99 >= 250ms", 10, 0, 0.25) is True
    assert rises("avg_duration > 1s", 3, 3, 1.5) is True
    assert rises("count < 5", 1, 0, 0.0) is None
    assert rises("max_duration < 1s", 1, 0, 0.1) is None
    assert rises("error_ratio < 0.5", 2, 2, 0.0) is False
    assert rises("error_ratio < 0.5", 2, 1, 0.0) is True
    assert rises("p50 < 100ms", 1, 0, 5.0) is True
    assert rising_test(parse_expr("absent", float)) is None


# ---- the differential: ticks only vs ticks and early evaluations -----------------------------


@dataclass
class Run:
    firing_at_ticks: list[set[tuple[str, ...]]]
    holds_at_ticks: list[set[tuple[str, ...]]]
    fired: list[tuple[float, float, tuple[str, ...]]]  # (fired_at, active_at, key)


def run(tmp_path: Path, rules: str, early: bool, spans: list[tuple[float, bool, str]], ticks: int) -> Run:
    s = EarlySim(config_from(tmp_path, rules, f"evaluate_on_spans: {'true' if early else 'false'}\n"))
    engine = s.engine
    result = Run([], [], [])
    events = sorted(spans)
    cursor = 0
    tick = 0
    while tick <= ticks:
        next_span = events[cursor][0] if cursor < len(events) else math.inf
        deadline = engine.next_deadline() - START
        t = min(float(tick), next_span, deadline)
        s.now = START + t
        if t == next_span:
            _, error, route = events[cursor]
            cursor += 1
            s.span(error=error, **{"http.route": route})
        if t == tick:
            engine.evaluate(s.now)
        engine.fold(s.now)
        for (_, _), alerts in engine.active.items():
            for key, alert in alerts.items():
                if (
                    alert.state == "firing"
                    and alert.fired_at == s.now
                    and (alert.fired_at, alert.active_at, key) not in result.fired
                ):
                    result.fired.append((alert.fired_at, alert.active_at, key))
        if t == tick:
            active = engine.active.get(("g", "A"), {})
            result.firing_at_ticks.append({k for k, a in active.items() if a.state == "firing"})
            verdicts, _ = engine._verdicts(engine.states[("g", "A")], s.now)
            result.holds_at_ticks.append({k for k, v in verdicts.items() if v.holds})
            tick += 1
    return result


DIFF_RULES = """
groups:
  - name: g
    interval: 1s
    rules:
      - alert: A
        spans: {{service: shop}}
        expr: error_ratio > 40%
        window: 3s
        group_by: [http.route]
        for: {for_}
        keep_firing_for: {keep}
"""

span_lists = st.lists(
    st.tuples(
        st.integers(min_value=0, max_value=199).map(lambda tenth: tenth / 10 + 0.05),
        st.booleans(),
        st.sampled_from(["/a", "/b"]),
    ),
    max_size=60,
)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(spans=span_lists, for_=st.sampled_from(["0s", "1500ms", "2s"]), keep=st.sampled_from(["0s", "2s"]))
def test_early_evaluation_only_adds_instants_towards_firing(
    tmp_path: Path, spans: list[tuple[float, bool, str]], for_: str, keep: str
) -> None:
    rules = DIFF_RULES.format(for_=for_, keep=keep)
    ticks_only = run(tmp_path, rules, False, spans, 22)
    early = run(tmp_path, rules, True, spans, 22)
    # The same windows at every tick: the same verdicts.
    assert early.holds_at_ticks == ticks_only.holds_at_ticks
    for tick, (plain, fast) in enumerate(zip(ticks_only.firing_at_ticks, early.firing_at_ticks, strict=True)):
        assert plain <= fast, f"tick {tick}: {plain} firing with ticks only, {fast} with early evaluation"
    wait = parse_duration(for_, allow_zero=True)
    for fired_at, active_at, key in early.fired:
        assert fired_at - active_at >= wait - 1e-9
        # every tick while it was pending saw the condition hold
        for tick in range(math.ceil(active_at - START - 1e-9), math.floor(fired_at - START + 1e-9) + 1):
            if START + tick >= active_at:
                assert key in early.holds_at_ticks[tick], (
                    f"{key} pending through tick {tick} that did not hold"
                )


# ---- on the manager's thread ---------------------------------------------------------------

HOURLY = """
groups:
  - name: g
    interval: 1h
    rules:
      - alert: A
        spans: {{service: shop}}
        expr: error_count > 0
        for: {for_}
"""


class Timed(Recorder):
    def __init__(self) -> None:
        super().__init__()
        self.at: list[float] = []

    def submit(self, alerts: Sequence[Alert]) -> None:
        self.at.append(time.monotonic())
        super().submit(alerts)


def manager_for(
    tmp_path: Path, for_: str = "0s", alerting: str = ""
) -> tuple[RuleManager, Timed, TracerProvider]:
    recorder = Timed()
    manager = RuleManager(config_from(tmp_path, HOURLY.format(for_=for_), alerting), recorder)  # type: ignore[arg-type]
    provider = TracerProvider(resource=Resource.create({"service.name": "shop"}))
    provider.add_span_processor(manager.processor)
    return manager, recorder, provider


def wait_for(condition: Callable[[], object], timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition() and time.monotonic() < deadline:
        time.sleep(0.005)


def fail(provider: TracerProvider) -> float:
    with provider.get_tracer("t").start_as_current_span("GET") as span:
        span.set_status(StatusCode.ERROR)
    return time.monotonic()


def test_a_failing_span_is_sent_long_before_the_hourly_tick(tmp_path: Path) -> None:
    manager, recorder, provider = manager_for(tmp_path)
    manager.start()
    try:
        time.sleep(0.05)  # the thread waits for its tick
        fail(provider)
        wait_for(lambda: recorder.sent)
        assert [a.status for a in recorder.sent] == ["firing"]
    finally:
        manager.stop()


def test_for_elapses_on_the_managers_thread_without_a_tick(tmp_path: Path) -> None:
    manager, recorder, provider = manager_for(tmp_path, for_="300ms")
    manager.start()
    try:
        failed_at = fail(provider)
        wait_for(lambda: recorder.sent)
        assert [a.status for a in recorder.sent] == ["firing"]
        assert recorder.at[0] - failed_at >= 0.3  # not before `for` has elapsed
    finally:
        manager.stop()


def test_folds_are_coalesced_and_wakes_are_one_per_fold(tmp_path: Path) -> None:
    manager, _, provider = manager_for(tmp_path, alerting="min_fold_interval: 200ms\n")
    engine = manager.engine
    folds: list[float] = []
    fold = engine.fold

    def counted(now: float) -> list[Alert]:
        folds.append(time.monotonic())
        return fold(now)

    engine.fold = counted  # type: ignore[method-assign]
    wakes: list[int] = []
    wake = manager.processor.wakeup
    assert wake is not None

    def counted_wake() -> None:
        wakes.append(1)
        wake()

    manager.processor.wakeup = counted_wake
    manager.start()
    try:
        tracer = provider.get_tracer("t")
        started = time.monotonic()
        spans = 0
        while time.monotonic() - started < 1.0:
            with tracer.start_as_current_span("GET"):
                spans += 1
            time.sleep(0.0005)
        wait_for(lambda: manager.processor.queued == 0)
        elapsed = time.monotonic() - started
    finally:
        manager.stop()
    gaps = [b - a for a, b in itertools.pairwise(folds)]
    assert spans > 200 and len(folds) <= elapsed / 0.2 + 2, (spans, len(folds))
    assert all(gap >= 0.2 - 0.01 for gap in gaps), gaps
    assert len(wakes) <= len(folds) + 1  # one wake per drained queue, not one per span
