"""The state machine as telemetry: one transition record per state change, and the ALERTS-like
gauge listing exactly the pending and firing alerts (Prometheus writes ALERTS samples only
for them: a resolved alert kept for its resends is not in ALERTS)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from pathlib import Path

from otelbundle.alerting.alert import AlertState
from otelbundle.alerting.telemetry import AlertTelemetry
from tests.unit.alerting.helpers import Sim, config_from

RULE = """
groups:
  - name: g
    interval: 1s
    rules:
      - alert: A
        spans: {service: shop}
        expr: error_count > 0
        window: 10s
        for: 2s
"""


class Transitions(AlertTelemetry):
    """Keeps what the engine reports instead of logging it."""

    def __init__(self) -> None:
        super().__init__(enabled=False)
        self.records: list[tuple[str, float]] = []
        self.gauge: list[str] = []

    def transition(
        self, labels: Mapping[str, str], state: AlertState, value: float, trace_id: str, span_id: int = 0
    ) -> None:
        self.records.append((state.reported, value))

    def set_active(
        self, rule: tuple[str, str], alerts: Iterable[tuple[Mapping[str, str], AlertState]]
    ) -> None:
        self.gauge = [state.value for _labels, state in alerts]


def test_each_transition_is_recorded_once_and_the_gauge_lists_only_active_alerts(tmp_path: Path) -> None:
    telemetry = Transitions()
    s = Sim(config_from(tmp_path, RULE, "resend_delay: 5s\n"), telemetry=telemetry)
    gauges = []
    for t in range(3):
        s.span(error=True)
        s.at(t)
        gauges.append(list(telemetry.gauge))
    assert gauges == [["pending"], ["pending"], ["firing"]]
    assert telemetry.records == [("pending", 1.0), ("firing", 3.0)]
    for t in range(3, 14):  # the last error leaves the window at 13
        s.at(t)
    assert s.state() == "inactive"
    # the value an alert resolves with is its last holding one (1 error, at 12), as Eval keeps it
    assert telemetry.records == [("pending", 1.0), ("firing", 3.0), ("resolved", 1.0)]
    # kept for its resends (one went out at 18), but no longer an active alert
    assert [a.status for a in s.at(18)] == ["resolved"]
    assert telemetry.gauge == []
    assert len(telemetry.records) == 3
