"""`otelbundle rules test` with input_records: log rules tested as span rules are."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from otelbundle.cli import main
from otelbundle.cli.ruletest import run_test_file
from otelbundle.cli.ruletest_records import expand_records

RULES = """
groups:
  - name: payments
    rules:
      - alert: PaymentsDeadlocks
        logs: {service: payments, severity: ">= ERROR", where: 'body =~ "deadlock"'}
        expr: count > 2
        window: 1m
        labels: {severity: page}
        annotations: {summary: "{{ $value }} deadlocks in a minute"}
"""
TEST = """
rule_files: [payments.rules.yaml]
tests:
  - name: three deadlocks page; other errors do not count
    interval: 1s
    input_records:
      - records: {service: payments, logger: payments.db}
        values: 'INFO x5, ERROR "connection reset" x5, ERROR "deadlock detected, retrying" x3'
    alert_rule_test:
      - eval_time: 11s
        alertname: PaymentsDeadlocks
        exp_alerts: []
      - eval_time: 12s
        alertname: PaymentsDeadlocks
        exp_alerts:
          - exp_labels: {severity: page}
            exp_annotations: {summary: "3 deadlocks in a minute"}
"""


def write(tmp_path: Path, test: str = TEST) -> Path:
    (tmp_path / "payments.rules.yaml").write_text(textwrap.dedent(RULES))
    (tmp_path / "t.yaml").write_text(textwrap.dedent(test))
    return tmp_path / "t.yaml"


def test_log_rules_are_tested_with_input_records(tmp_path: Path) -> None:
    assert run_test_file(str(write(tmp_path))) == []


def test_a_wrong_expectation_fails(tmp_path: Path) -> None:
    failures = run_test_file(str(write(tmp_path, TEST.replace("eval_time: 11s", "eval_time: 13s"))))
    assert len(failures) == 1 and "alertname PaymentsDeadlocks at eval_time 13s" in failures[0]


def test_the_values_notation() -> None:
    assert expand_records('WARNING x2, ERROR "a \\"quoted\\", comma" x1') == [
        ("WARNING", "WARNING"),
        ("WARNING", "WARNING"),
        ("ERROR", 'a "quoted", comma'),
    ]
    with pytest.raises(ValueError, match="'LOUD' is not a severity"):
        expand_records("LOUD x1")
    with pytest.raises(ValueError, match="is not 'SEVERITY"):
        expand_records("ERROR 3")


def test_bad_records_are_reported_before_anything_runs(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = write(tmp_path, TEST.replace("logger: payments.db", "loger: payments.db"))
    assert main(["rules", "test", str(path)]) == 1
    assert "unknown key 'loger' in records (did you mean 'logger'?)" in capsys.readouterr().err
