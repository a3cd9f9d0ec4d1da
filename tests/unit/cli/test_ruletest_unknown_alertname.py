"""`rules test`: an alert_rule_test whose alertname names no rule passed in silence (its
expectation of no alerts holds whatever the rules do); now a warning line names it."""

from __future__ import annotations

from pathlib import Path

import pytest

from otelbundle.cli import main

RULES = "groups:\n  - name: g\n    rules:\n      - {alert: CheckoutError, expr: error_count > 0}\n"
TESTS = """\
rule_files: [rules.yaml]
tests:
  - interval: 1s
    input_spans:
      - spans: {service: shop}
        values: "ok 10ms x5"
    alert_rule_test:
      - eval_time: 5s
        alertname: CheckoutEror
      - eval_time: 5s
        alertname: CheckoutError
"""


def test_an_unknown_alertname_is_a_warning_not_a_failure(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "rules.yaml").write_text(RULES)
    (tmp_path / "t.yaml").write_text(TESTS)
    assert main(["rules", "test", str(tmp_path / "t.yaml")]) == 0
    out, err = capsys.readouterr()
    assert "SUCCESS" in out
    assert err.splitlines() == [
        f"{tmp_path}/t.yaml:9:20: warning: alertname 'CheckoutEror' names no rule in the rule files "
        "(did you mean 'CheckoutError'?); this check tests nothing"
    ]


def test_known_alertnames_give_no_warning(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "rules.yaml").write_text(RULES)
    (tmp_path / "t.yaml").write_text(TESTS.replace("CheckoutEror", "CheckoutError"))
    assert main(["rules", "test", str(tmp_path / "t.yaml")]) == 0
    assert capsys.readouterr().err == ""
