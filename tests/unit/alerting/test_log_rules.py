"""Rules over log records: the logs: selector, count/rate/absent, exemplars from the records' traces."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from opentelemetry.sdk.resources import Resource

from otelbundle.alerting.manager import RuleManager
from otelbundle.alerting.section import load_alerting_config
from otelbundle.cli.ruletest_records import synthetic_record
from otelbundle.config import ConfigError
from tests.unit.alerting.helpers import Recorder, Sim, config_from

RULES = """
groups:
  - name: logs
    rules:
      - alert: Deadlocks
        logs: {service: "pay*", severity: ">= ERROR", logger: "payments.*", where: 'body =~ "deadlock"'}
        expr: count > 2
        window: 1m
        labels: {severity: page}
        annotations: {summary: "{{ $value }} deadlocks"}
"""
_RESOURCES: dict[str, Resource] = {}


def emit(
    sim: Sim,
    severity: str = "ERROR",
    body: str = "deadlock detected",
    *,
    service: str = "payments",
    logger: str = "payments.db",
    trace_id: int = 0,
    **attributes: object,
) -> None:
    resource = _RESOURCES.setdefault(service, Resource({"service.name": service}))
    record = synthetic_record(
        severity=severity,
        body=body,
        logger=logger,
        attributes=attributes,
        resource=resource,
        trace_id=trace_id,
    )
    sim.engine.log_intake.on_emit(record)


def firing(sim: Sim, name: str = "Deadlocks") -> list[dict[str, str]]:
    return [
        alert.labels
        for (_, rule), alerts in sim.engine.active.items()
        if rule == name
        for alert in alerts.values()
        if alert.state == "firing"
    ]


def test_error_records_fire_and_the_alert_carries_their_traces(tmp_path: Path) -> None:
    sim = Sim(config_from(tmp_path, RULES, 'generator_url: "http://jaeger/trace/{{ $exemplar.trace_id }}"\n'))
    for trace in (0xA1, 0xA2):
        emit(sim, trace_id=trace)
    assert sim.at(1) == []
    emit(sim, trace_id=0xA3)
    emit(sim, trace_id=0)  # a record outside any trace counts, but links nothing
    sent = sim.at(2)
    assert [(a.name, a.status, a.value) for a in sent] == [("Deadlocks", "firing", 4.0)]
    assert sent[0].trace_ids == tuple(f"{t:032x}" for t in (0xA3, 0xA2, 0xA1))  # newest first
    assert sent[0].generator_url == f"http://jaeger/trace/{0xA3:032x}"
    assert sent[0].annotations["summary"] == "4 deadlocks"


@pytest.mark.parametrize(
    ("record", "counts"),
    [
        ({"severity": "WARN"}, False),  # below ERROR
        ({"severity": "FATAL"}, True),
        ({"severity": "CRITICAL"}, True),
        ({"body": "timeout"}, False),  # where: body =~ "deadlock"
        ({"service": "billing"}, False),
        ({"service": "payments-eu"}, True),  # the service glob
        ({"logger": "payments"}, False),  # the logger glob wants payments.<something>
        ({"logger": "otelbundle.alerting"}, False),  # our own records never count
    ],
)
def test_what_a_log_selector_lets_through(tmp_path: Path, record: dict[str, str], counts: bool) -> None:
    sim = Sim(config_from(tmp_path, RULES))
    for _ in range(3):
        emit(sim, **record)  # type: ignore[arg-type]
    sim.at(1)
    assert bool(firing(sim)) == counts


def test_span_rules_ignore_records_and_log_rules_ignore_spans(tmp_path: Path) -> None:
    rules = (
        RULES
        + """
      - alert: AnyErrors
        spans: {service: payments}
        expr: error_count > 0
"""
    )
    sim = Sim(config_from(tmp_path, rules))
    for _ in range(3):
        emit(sim)
    sim.at(1)
    assert firing(sim, "AnyErrors") == [] and firing(sim)
    sim2 = Sim(config_from(tmp_path, rules))
    for _ in range(3):
        sim2.span(error=True, service="payments", name="deadlock detected")
    sim2.at(1)
    assert firing(sim2) == [] and firing(sim2, "AnyErrors")


def test_group_by_a_record_attribute_and_rate(tmp_path: Path) -> None:
    rules = """
    groups:
      - name: logs
        rules:
          - alert: ErrorsPerType
            logs: {service: payments, severity: ERROR}
            expr: rate > 0.05
            window: 1m
            group_by: [exception.type]
    """
    sim = Sim(config_from(tmp_path, rules))
    for _ in range(4):  # 4 in a minute: 0.067/s
        emit(sim, **{"exception.type": "OperationalError"})
    emit(sim, **{"exception.type": "KeyError"})
    sim.at(1)
    assert sorted(labels["exception_type"] for labels in firing(sim, "ErrorsPerType")) == ["OperationalError"]


def test_group_by_keeps_a_zero_or_false_value_apart_from_a_missing_one(tmp_path: Path) -> None:
    """`extra={"retry": 0}` is a value: its records are not folded into those without the attribute."""
    rules = """
    groups:
      - name: logs
        rules:
          - alert: PerRetry
            logs: {service: payments, severity: ERROR}
            expr: count > 0
            window: 1m
            group_by: [retry, cached]
    """
    sim = Sim(config_from(tmp_path, rules))
    emit(sim, retry=0, cached=False)
    emit(sim, retry=0, cached=False)
    emit(sim)  # neither attribute
    emit(sim, retry=2, cached=True)
    sent = sim.at(1)
    assert sorted((a.labels.get("retry", "-"), a.labels.get("cached", "-"), a.value) for a in sent) == [
        ("-", "-", 1.0),
        ("0", "false", 2.0),
        ("2", "true", 1.0),
    ]


def test_absent_is_a_heartbeat_on_log_records(tmp_path: Path) -> None:
    rules = """
    groups:
      - name: logs
        rules:
          - alert: NoBatchRun
            logs: {service: jobs, logger: jobs.nightly, where: 'body == "batch done"'}
            expr: absent
            window: 10m
    """
    sim = Sim(config_from(tmp_path, rules))
    emit(sim, "INFO", "batch started", service="jobs", logger="jobs.nightly")  # not the heartbeat
    sim.at(5 * 60)
    assert firing(sim, "NoBatchRun") == []  # loaded less than a window ago
    sim.at(11 * 60)
    assert firing(sim, "NoBatchRun")
    emit(sim, "INFO", "batch done", service="jobs", logger="jobs.nightly")
    sim.at(11 * 60 + 1)
    assert firing(sim, "NoBatchRun") == []


def test_records_wake_the_engine_so_a_log_rule_fires_before_its_tick(tmp_path: Path) -> None:
    """A 1-minute group interval: only the records' wakeup can make the alert come early."""
    config = config_from(tmp_path, RULES.replace("  - name: logs\n", "  - name: logs\n    interval: 1m\n"))
    recorder = Recorder()
    manager = RuleManager(config, recorder, labels=None)  # type: ignore[arg-type]
    manager.start()
    try:
        time.sleep(0.1)
        resource = Resource({"service.name": "payments"})
        for trace in (1, 2, 3):
            manager.engine.log_intake.on_emit(
                synthetic_record(
                    severity="ERROR",
                    body="deadlock",
                    logger="payments.db",
                    attributes={},
                    resource=resource,
                    trace_id=trace,
                )
            )
        deadline = time.monotonic() + 10
        while not recorder.sent and time.monotonic() < deadline:
            time.sleep(0.01)
        assert [a.name for a in recorder.sent] == ["Deadlocks"]
    finally:
        manager.stop()


def test_without_log_rules_records_do_not_wake_the_engine(tmp_path: Path) -> None:
    sim = Sim(
        config_from(
            tmp_path, "groups:\n  - {name: g, rules: [{alert: A, spans: {service: x}, expr: count > 0}]}\n"
        )
    )
    assert sim.engine.log_intake.wakeup is None


BAD = """\
groups:
  - name: logs
    rules:
      - alert: A
        logs: {service: payments, severty: ERROR}
        expr: count > 0
      - alert: B
        logs: {severity: ">= LOUD"}
        expr: count > 0
      - alert: C
        logs: {severity: ERROR}
        expr: error_ratio > 5%
      - alert: D
        logs: {severity: ERROR, where: 'body =~ "("'}
        spans: {service: payments}
        errors_where: ["status == error"]
        expr: count > 0
"""


def test_every_problem_of_a_log_rule_is_located(tmp_path: Path) -> None:
    (tmp_path / "rules.yaml").write_text(BAD)
    (tmp_path / "otelbundle.yaml").write_text("alerting:\n  rule_files: [rules.yaml]\n")
    with pytest.raises(ConfigError) as caught:
        load_alerting_config(str(tmp_path / "otelbundle.yaml"), {})
    lines = [str(p).replace(str(tmp_path) + "/", "") for p in caught.value.problems]
    assert "rules.yaml:5:35: unknown key 'severty' in logs (did you mean 'severity'?)" in lines
    assert any(line.startswith("rules.yaml:8:27: severity: '>= LOUD' is not a severity") for line in lines)
    assert any(
        line.startswith("rules.yaml:12:15: expr: a log rule takes count, rate, absent") for line in lines
    )
    assert any(
        line.startswith("rules.yaml:14:") and "where: bad regular expression" in line for line in lines
    )
    assert "rules.yaml:14:9: a rule selects spans: or logs:, not both" in lines
    assert "rules.yaml:16:9: errors_where: is for spans; a log rule counts records" in lines


def test_a_logger_glob_that_selects_only_otelbundles_own_records_is_refused(tmp_path: Path) -> None:
    """Such a rule could never fire (own records never count): `rules check` said SUCCESS."""
    (tmp_path / "rules.yaml").write_text(
        "groups:\n"
        "  - name: logs\n"
        "    rules:\n"
        "      - alert: HealthFailing\n"
        '        logs: {logger: otelbundle.health, severity: ">= ERROR"}\n'
        "        expr: count > 0\n"
        "      - alert: AnyOtel\n"
        '        logs: {logger: "otel*"}\n'  # matches the application's opentelemetry.* loggers too
        "        expr: count > 0\n"
    )
    (tmp_path / "otelbundle.yaml").write_text("alerting:\n  rule_files: [rules.yaml]\n")
    with pytest.raises(ConfigError) as caught:
        load_alerting_config(str(tmp_path / "otelbundle.yaml"), {})
    assert [str(p).replace(str(tmp_path) + "/", "") for p in caught.value.problems] == [
        "rules.yaml:5:24: logger: 'otelbundle.health' selects only otelbundle's own records, which never "
        "count (alerts would feed themselves); health check results reach rules as spans named "
        "'health <check>'"
    ]
