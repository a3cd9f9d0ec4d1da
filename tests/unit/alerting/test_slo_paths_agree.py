"""The in-process burn-rate alerts fire where the generated Prometheus rules do, at the same traffic.

The generated promtool tests (``slo generate --tests``) hold, per traffic shape and
evaluation minute, the alerts Prometheus must fire, and tests/unit/cli/test_slo_generate.py
has promtool check them. Here the same traffic goes through the engine as spans, minute by
minute, and the alerts firing in process at those minutes must be the same.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from otelbundle.alerting.rule_files import load_slos
from otelbundle.alerting.slo.promtool_tests import PER_MINUTE, Phase, slo_tests
from otelbundle.alerting.slo.promtool_tests import scenarios as traffic_shapes
from tests.unit.alerting.helpers import Sim
from tests.unit.alerting.test_slo import firing, slo_sim

SPANS_A_MINUTE = 200  # PER_MINUTE scaled down: the same shares, fewer spans to simulate

SLOS = {
    "availability-99": "objective: 99%",
    "availability-95-28d": "objective: 95%\n    period: 28d",
    "availability-99.9-7d": "objective: 99.9%\n    period: 7d",
    "latency-99": "objective: 99%\n    period: 7d\n    good_if_faster_than: 500ms",
}


def _run(
    sim: Sim, phases: list[Phase], checks: dict[int, list[dict[str, str]]]
) -> dict[int, list[dict[str, str]]]:
    """Spans minute by minute (spread over each minute, as counters rise between samples); the
    alerts firing in process at each checked minute."""
    scale = SPANS_A_MINUTE / PER_MINUTE
    sent = {"good": 0.0, "slow": 0.0, "errors": 0.0}
    seen: dict[int, list[dict[str, str]]] = {}
    minute = 0
    for phase in phases:
        for _ in range(phase.minutes):
            spans: list[tuple[bool, float]] = []
            for kind, error, duration in (("good", False, 0.1), ("slow", False, 0.9), ("errors", True, 0.1)):
                before = round(sent[kind])
                sent[kind] += getattr(phase, kind) * scale
                spans += [(error, duration)] * (round(sent[kind]) - before)
            for index, (error, duration) in enumerate(spans):
                sim.now = 1_000_000.0 + minute * 60 + (index + 0.5) * 60 / len(spans)
                sim.span(error=error, duration=duration, service="storefront", name="POST /checkout")
            minute += 1
            if minute in checks:
                sim.at(minute * 60)
                seen[minute] = sorted((labels for labels in firing(sim).values()), key=str)
    return seen


@pytest.mark.parametrize("name", sorted(SLOS))
def test_in_process_alerts_fire_at_the_minutes_prometheus_does(tmp_path: Path, name: str) -> None:
    text = f"""
slos:
  - name: {name}
    spans: {{service: storefront, kind: server, name: "POST /checkout"}}
    {SLOS[name]}
"""
    latency = "good_if_faster_than" in text
    (tmp_path / "slos.yaml").write_text(text)
    (the_slo,) = load_slos(str(tmp_path / "slos.yaml"), {})
    tests = slo_tests(the_slo, "500" if latency else None)
    shapes = {f"{name}: {shape}": phases for shape, phases, _ in traffic_shapes(the_slo, latency)}
    assert len(tests) == len(shapes) >= 3
    for test in tests:
        expected = {
            int(check["eval_time"].removesuffix("m")): sorted(
                ({**alert["exp_labels"], "alertname": check["alertname"]} for alert in check["exp_alerts"]),
                key=str,
            )
            for check in test["alert_rule_test"]
        }
        assert expected, test["name"]
        seen = _run(slo_sim(tmp_path, text), shapes[test["name"]], expected)
        assert seen == expected, test["name"]
