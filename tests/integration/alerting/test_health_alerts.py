"""A failing health check fires an in-process alert through the real rule engine."""

from __future__ import annotations

import textwrap
import time
from pathlib import Path

from opentelemetry.sdk.resources import Resource

from otelbundle.alerting.manager import build_alerting
from otelbundle.health.model import CheckResult, Status
from otelbundle.health.spans import SpanProcessorSink, result_span

RULES = """
groups:
  - name: health
    interval: 100ms
    rules:
      - alert: DatabaseDown
        spans: {service: inventory, name: "health db"}
        expr: error_count > 0
        window: 5s
        labels: {severity: critical}
"""


def result(status: Status) -> CheckResult:
    now = time.time_ns()
    return CheckResult("db", "sql", status, "no such table: stock", 0.01, now - 10_000_000, now)


def test_failing_health_check_fires_and_recovering_resolves(tmp_path: Path) -> None:
    (tmp_path / "rules.yaml").write_text(textwrap.dedent(RULES))
    (tmp_path / "otelbundle.yaml").write_text("alerting:\n  rule_files: [rules.yaml]\n")
    clock = [1_000.0]
    setup = build_alerting(str(tmp_path / "otelbundle.yaml"), {}, clock=lambda: clock[0])
    assert setup is not None
    setup.stop()  # drive evaluations by hand in simulated time
    sink = SpanProcessorSink(setup.processor)
    resource = Resource.create({"service.name": "inventory"})
    try:
        sink.processor.on_end(result_span(result(Status.FAILING), resource))
        sent = setup.engine.evaluate(clock[0])
        assert [(a.name, a.status) for a in sent] == [("DatabaseDown", "firing")]
        assert sent[0].labels["severity"] == "critical"
        clock[0] += 6  # the failure leaves the 5 s window
        sink.processor.on_end(result_span(result(Status.HEALTHY), resource))
        assert [a.status for a in setup.engine.evaluate(clock[0])] == ["resolved"]
    finally:
        setup.shutdown()
