"""`otelbundle rules test`: the examples pass; a wrong expectation fails with a readable diff."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from otelbundle.cli import main
from otelbundle.cli.ruletest import run_test_file
from otelbundle.config import ConfigError

EXAMPLES = Path(__file__).resolve().parents[3] / "examples" / "rules"


def test_example_rule_tests_pass(capsys: pytest.CaptureFixture[str]) -> None:
    files = sorted(str(p) for p in EXAMPLES.glob("*.test.yaml"))
    assert len(files) == 3
    assert main(["rules", "test", *files]) == 0
    assert capsys.readouterr().out.count("SUCCESS") == 3


def test_wrong_expectation_fails_with_expected_and_got(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    for name in ("storefront.rules.yaml", "storefront.rules.test.yaml"):
        shutil.copy(EXAMPLES / name, tmp_path / name)
    test_file = tmp_path / "storefront.rules.test.yaml"
    test_file.write_text(test_file.read_text().replace('"20% of checkouts fail"', '"25% of checkouts fail"'))
    failures = run_test_file(str(test_file))
    assert len(failures) == 1
    assert "alertname CheckoutErrors at eval_time 24s" in failures[0]
    assert (
        "'summary': '25% of checkouts fail'" in failures[0]
        and "'summary': '20% of checkouts fail'" in failures[0]
    )
    assert main(["rules", "test", str(test_file)]) == 1
    assert "FAILED" in capsys.readouterr().err


def test_bad_values_notation_is_reported(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    shutil.copy(EXAMPLES / "storefront.rules.yaml", tmp_path / "storefront.rules.yaml")
    (tmp_path / "t.yaml").write_text(
        "rule_files: [storefront.rules.yaml]\ntests:\n  - input_spans:\n"
        "      - spans: {service: storefront}\n        values: 'fine 1s x3'\n"
        "    alert_rule_test: [{eval_time: 1s, alertname: CheckoutErrors}]\n"
    )
    assert main(["rules", "test", str(tmp_path / "t.yaml")]) == 1
    assert "'fine 1s x3' is not 'ok|error DURATION xCOUNT'" in capsys.readouterr().err


def test_between_ticks_alerts_fire_at_the_span_unless_evaluation_is_ticks_only(tmp_path: Path) -> None:
    shutil.copy(EXAMPLES / "storefront.rules.yaml", tmp_path / "storefront.rules.yaml")
    body = (
        "tests:\n  - interval: 250ms\n    input_spans:\n"
        "      - spans: {service: storefront, kind: server, name: 'POST /checkout'}\n"
        "        values: 'ok 120ms x20, error 300ms x4'\n"
        "    alert_rule_test:\n      - eval_time: 5250ms\n        alertname: CheckoutErrors\n"
        "        exp_alerts: [{exp_labels: {severity: critical, team: shop}}]\n"
    )
    (tmp_path / "events.yaml").write_text("rule_files: [storefront.rules.yaml]\n" + body)
    (tmp_path / "ticks.yaml").write_text(
        "rule_files: [storefront.rules.yaml]\nevaluate_on_spans: false\n" + body
    )
    assert run_test_file(str(tmp_path / "events.yaml")) == []
    failures = run_test_file(str(tmp_path / "ticks.yaml"))
    assert len(failures) == 1 and "(no firing alerts)" in failures[0]  # the 6 s tick has not come


def test_groups_of_one_name_in_two_files_are_each_evaluated_and_each_resolves(tmp_path: Path) -> None:
    """Prometheus keys a group by (file, name); keyed by name alone, the second file's group
    was skipped at every tick, and its alert, fired between ticks, never resolved."""
    for name in ("A", "B"):
        (tmp_path / f"{name}.yaml").write_text(
            "groups:\n  - name: api\n    interval: 1s\n    rules:\n"
            f"      - alert: Err{name}\n        spans: {{service: shop}}\n"
            "        expr: error_count > 0\n        window: 5s\n"
        )
    checks = "".join(
        f"      - eval_time: {at}\n        alertname: Err{name}\n        exp_alerts: {expected}\n"
        for at, expected in (("2s", "[{exp_labels: {}}]"), ("60s", "[]"))
        for name in ("A", "B")
    )
    body = (
        "tests:\n  - interval: 1s\n    input_spans:\n      - spans: {service: shop}\n"
        "        values: 'error 10ms x3'\n    alert_rule_test:\n" + checks
    )
    for mode in ("", "evaluate_on_spans: false\n"):
        (tmp_path / "t.yaml").write_text(
            "rule_files: [A.yaml, B.yaml]\nevaluation_interval: 1s\n" + mode + body
        )
        assert run_test_file(str(tmp_path / "t.yaml")) == [], mode


ROUTED = """\
alerting:
  external_labels: {env: prod}
  notify:
    webhook:
      - {name: pager, url: "${env:PAGER_URL}", match: ['severity="critical"', 'env="prod"']}
      - {name: chat, url: "${env:CHAT_URL}", match: ['severity=~"warning|critical"']}
    slack: {webhook_url: "${env:SLACK_WEBHOOK_URL}", match: ['team="web"']}
"""


def test_exp_channels_checks_where_the_config_routes_each_alert(tmp_path: Path) -> None:
    """The channels' URLs come from unset variables: routing is all that is read of them."""
    shutil.copy(EXAMPLES / "storefront.rules.yaml", tmp_path / "storefront.rules.yaml")
    (tmp_path / "otelbundle.yaml").write_text(ROUTED)
    body = (
        "rule_files: [storefront.rules.yaml]\nconfig: otelbundle.yaml\ntests:\n  - input_spans:\n"
        "      - spans: {service: storefront, kind: server, name: 'POST /checkout'}\n"
        "        values: 'ok 120ms x20, error 300ms x5'\n"
        "    alert_rule_test:\n      - eval_time: 24s\n        alertname: CheckoutErrors\n"
        "        exp_alerts: [{exp_labels: {severity: critical, team: shop}, exp_channels: CHANNELS}]\n"
    )
    (tmp_path / "t.yaml").write_text(body.replace("CHANNELS", "[chat, pager]"))
    assert run_test_file(str(tmp_path / "t.yaml"), env={}) == []
    (tmp_path / "t.yaml").write_text(body.replace("CHANNELS", "[pager]"))
    (failure,) = run_test_file(str(tmp_path / "t.yaml"), env={})
    assert "channels=['pager']" in failure and "channels=['chat', 'pager']" in failure


def test_exp_channels_routes_on_the_service_name_the_process_adds(tmp_path: Path) -> None:
    """The running process adds service_name to every alert before routing it: so does the test."""
    shutil.copy(EXAMPLES / "storefront.rules.yaml", tmp_path / "storefront.rules.yaml")
    (tmp_path / "otelbundle.yaml").write_text(
        "alerting:\n  notify:\n    webhook:\n"
        '      - {name: store, url: "${env:STORE_URL}", match: [\'service_name="storefront"\']}\n'
        '      - {name: rest, url: "${env:REST_URL}", match: [\'service_name!="storefront"\']}\n'
    )
    (tmp_path / "t.yaml").write_text(
        "rule_files: [storefront.rules.yaml]\nconfig: otelbundle.yaml\ntests:\n  - input_spans:\n"
        "      - spans: {service: storefront, kind: server, name: 'POST /checkout'}\n"
        "        values: 'ok 120ms x20, error 300ms x5'\n"
        "    alert_rule_test:\n      - eval_time: 24s\n        alertname: CheckoutErrors\n"
        "        exp_alerts: [{exp_labels: {severity: critical, team: shop}, exp_channels: [store]}]\n"
    )
    assert run_test_file(str(tmp_path / "t.yaml"), env={}) == []


def test_exp_channels_without_config_is_a_located_problem(tmp_path: Path) -> None:
    shutil.copy(EXAMPLES / "storefront.rules.yaml", tmp_path / "storefront.rules.yaml")
    (tmp_path / "t.yaml").write_text(
        "rule_files: [storefront.rules.yaml]\ntests:\n  - alert_rule_test:\n"
        "      - {eval_time: 1s, alertname: CheckoutErrors, exp_alerts: [{exp_channels: [pager]}]}\n"
    )
    with pytest.raises(ConfigError) as caught:
        run_test_file(str(tmp_path / "t.yaml"))
    assert "t.yaml:4:" in str(caught.value) and "exp_channels needs config:" in str(caught.value)


@pytest.mark.parametrize(("interval", "eval_time"), [("1ns", "5s"), ("1s", "9000h")])
def test_a_test_of_too_many_evaluations_is_a_located_problem_not_a_hang(
    tmp_path: Path, interval: str, eval_time: str
) -> None:
    """Found by the mutated-file property test: `evaluation_interval: 2.6e-08` ran for hours."""
    shutil.copy(EXAMPLES / "storefront.rules.yaml", tmp_path / "storefront.rules.yaml")
    (tmp_path / "t.yaml").write_text(
        f"rule_files: [storefront.rules.yaml]\nevaluation_interval: {interval}\ntests:\n  - alert_rule_test:\n"
        f"      - {{eval_time: {eval_time}, alertname: CheckoutErrors}}\n"
    )
    with pytest.raises(ConfigError) as caught:
        run_test_file(str(tmp_path / "t.yaml"))
    assert "t.yaml:5:" in str(caught.value)
    assert "evaluations; a rule test runs at most 1,000,000" in str(caught.value)


def test_alert_rule_test_that_is_not_a_list_is_a_located_problem(tmp_path: Path) -> None:
    """Found by the mutated-file property test: the evaluation count check iterated it."""
    shutil.copy(EXAMPLES / "storefront.rules.yaml", tmp_path / "storefront.rules.yaml")
    (tmp_path / "t.yaml").write_text("rule_files: [storefront.rules.yaml]\ntests:\n  - alert_rule_test: 1\n")
    with pytest.raises(ConfigError) as caught:
        run_test_file(str(tmp_path / "t.yaml"))
    assert "t.yaml:3:" in str(caught.value)


def test_expected_labels_are_read_as_written_as_the_rules_are(tmp_path: Path) -> None:
    """A rule's `code: 010` is the label "010" (as in Prometheus); the test's `exp_labels` must
    read it the same way, or a test promtool passes fails here (it expected "8")."""
    (tmp_path / "r.yaml").write_text(
        "groups:\n  - name: g\n    interval: 1s\n    rules:\n"
        "      - alert: A\n        spans: {service: shop}\n        expr: error_count > 0\n"
        "        window: 5s\n        labels: {code: 010, page: yes}\n"
        "        annotations: {ratio: 0x10}\n"
    )
    (tmp_path / "t.yaml").write_text(
        "rule_files: [r.yaml]\nevaluation_interval: 1s\ntests:\n  - interval: 1s\n    input_spans:\n"
        "      - spans: {service: shop}\n        values: 'error 10ms x3'\n    alert_rule_test:\n"
        "      - eval_time: 2s\n        alertname: A\n"
        "        exp_alerts: [{exp_labels: {code: 010, page: yes}, exp_annotations: {ratio: 0x10}}]\n"
    )
    assert run_test_file(str(tmp_path / "t.yaml")) == []


def test_exp_channels_labels_as_the_app_does_and_lists_one_alert_per_label_set(tmp_path: Path) -> None:
    """An external `service_name` does not override the process's (external labels fill only
    what is absent), and two group keys that end with the same labels are one alert, as sent."""
    (tmp_path / "r.yaml").write_text(
        "groups:\n  - name: g\n    interval: 1s\n    rules:\n"
        "      - alert: A\n        spans: {service: shop}\n        expr: error_count > 0\n"
        "        window: 5s\n        group_by: [severity]\n        labels: {severity: page}\n"
    )
    (tmp_path / "otelbundle.yaml").write_text(
        "alerting:\n  external_labels: {service_name: elsewhere}\n  notify:\n    webhook:\n"
        '      - {name: shop, url: "${env:SHOP_URL}", match: [\'service_name="shop"\']}\n'
        '      - {name: other, url: "${env:OTHER_URL}", match: [\'service_name="elsewhere"\']}\n'
    )
    (tmp_path / "t.yaml").write_text(
        "rule_files: [r.yaml]\nconfig: otelbundle.yaml\nevaluation_interval: 1s\ntests:\n"
        "  - interval: 1s\n    input_spans:\n"
        "      - spans: {service: shop, attributes: {severity: warning}}\n        values: 'error 10ms x3'\n"
        "      - spans: {service: shop, attributes: {severity: error}}\n        values: 'error 10ms x3'\n"
        "    alert_rule_test:\n      - eval_time: 2s\n        alertname: A\n"
        "        exp_alerts: [{exp_labels: {severity: page}, exp_channels: [shop]}]\n"
    )
    assert run_test_file(str(tmp_path / "t.yaml"), env={}) == []


def test_keys_an_external_label_makes_alike_are_listed_as_the_one_alert_sent(tmp_path: Path) -> None:
    (tmp_path / "r.yaml").write_text(
        "groups:\n  - name: g\n    interval: 1s\n    rules:\n"
        "      - alert: A\n        spans: {service: shop}\n        expr: error_count > 0\n"
        "        window: 5s\n        group_by: [env]\n"
    )
    (tmp_path / "otelbundle.yaml").write_text(
        "alerting:\n  external_labels: {env: prod}\n  notify:\n    webhook:\n"
        '      - {name: hook, url: "${env:HOOK_URL}"}\n'
    )
    (tmp_path / "t.yaml").write_text(
        "rule_files: [r.yaml]\nconfig: otelbundle.yaml\nevaluation_interval: 1s\ntests:\n"
        "  - interval: 1s\n    input_spans:\n"
        "      - spans: {service: shop, attributes: {env: prod}}\n        values: 'error 10ms x3'\n"
        "      - spans: {service: shop}\n        values: 'error 10ms x3'\n"
        "    alert_rule_test:\n      - eval_time: 2s\n        alertname: A\n"
        "        exp_alerts: [{exp_labels: {env: prod}, exp_channels: [hook]}]\n"
    )
    assert run_test_file(str(tmp_path / "t.yaml"), env={}) == []
