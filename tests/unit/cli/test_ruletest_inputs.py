"""``otelbundle rules test`` given what a hostile (or hurried) user writes: every problem located,
no traceback, exit 1."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

OTELBUNDLE = str(Path(sys.executable).with_name("otelbundle"))

RULES = """\
groups:
  - name: api
    rules:
      - alert: Errors
        spans: {service: shop}
        expr: error_count > 2
        labels: {severity: page}
"""

TEST = """\
rule_files: [{rule_files}]
{extra}tests:
  - input_spans:
      - spans: {{service: shop}}
        values: error 1s x5
    alert_rule_test:
      - eval_time: 10s
        alertname: Errors
        exp_alerts:
          - exp_labels: {{severity: page}}
"""


def rules_test(folder: Path, test: str, **files: str) -> subprocess.CompletedProcess[str]:
    for name, text in {"rules.yaml": RULES, **files}.items():
        (folder / name.replace("_", ".")).write_text(textwrap.dedent(text))
    (folder / "t.yaml").write_text(test)
    return subprocess.run(
        [OTELBUNDLE, "rules", "test", "t.yaml"], cwd=folder, capture_output=True, text=True, timeout=120
    )


def test_the_example_test_passes(tmp_path: Path) -> None:
    done = rules_test(tmp_path, TEST.format(rule_files="rules.yaml", extra=""))
    assert (done.returncode, done.stdout, done.stderr) == (0, "Unit Testing: t.yaml\n  SUCCESS\n", "")


def test_rule_files_refused_together_at_start_are_refused_by_the_test(tmp_path: Path) -> None:
    """The test merged two rules the application refuses to load together, and passed."""
    done = rules_test(tmp_path, TEST.format(rule_files="rules.yaml, more.yaml", extra=""), more_yaml=RULES)
    assert done.returncode == 1, done
    assert f"{tmp_path}/more.yaml:4:1: alert 'Errors' of group 'api' is also at {tmp_path}/rules.yaml:4" in (
        done.stderr
    )
    assert "Traceback" not in done.stderr


def test_a_rule_file_named_twice_is_read_once(tmp_path: Path) -> None:
    done = rules_test(tmp_path, TEST.format(rule_files="rules.yaml, ./rules.yaml", extra=""))
    assert (done.returncode, done.stderr) == (0, ""), done


@pytest.mark.parametrize(("text", "why"), [("", "an empty file"), ("- a\n", "a list")])
def test_a_config_that_is_not_a_mapping_is_a_located_problem(tmp_path: Path, text: str, why: str) -> None:
    """`config:` naming an empty file, or one holding a list, ended in an AttributeError traceback."""
    done = rules_test(
        tmp_path, TEST.format(rule_files="rules.yaml", extra="config: app.yaml\n"), app_yaml=text
    )
    assert done.returncode == 1, why
    assert done.stderr == "t.yaml:2:9: config: 'app.yaml' has no alerting.notify section\n", why


def test_a_boolean_label_is_routed_as_the_application_routes_it(tmp_path: Path) -> None:
    """`page: true` was the label page="True" (and `canary: true` an external label "True"):
    a channel matching page="true" got nothing, in the test as in the application."""
    routed = """\
    alerting:
      external_labels: {canary: true}
      notify:
        webhook:
          - {name: pager, url: "${env:PAGER_URL:-http://pager}", match: ['page="true"', 'canary="true"']}
    """
    rules = RULES.replace("{severity: page}", "{page: true}")
    test = TEST.format(rule_files="rules.yaml", extra="config: app.yaml\n").replace(
        "- exp_labels: {severity: page}", "- {exp_labels: {page: true}, exp_channels: [pager]}"
    )
    done = rules_test(tmp_path, test, rules_yaml=rules, app_yaml=routed)
    assert (done.returncode, done.stderr) == (0, ""), done


def test_input_values_of_the_wrong_type_are_located_problems(tmp_path: Path) -> None:
    """A list as a service name, a mapping as an attribute: the test ran with their repr (or
    with an attribute no span has) and failed, or passed, for a reason no one wrote."""
    test = """\
    rule_files: [rules.yaml]
    tests:
      - name: [first]
        input_spans:
          - spans: {service: [shop], name: {a: 1}, attributes: {user: {id: 1}, ids: [1, a], ok: [1, 2]}}
            values: error 1s x5
        input_records:
          - records: {logger: 5, resource: {region: null}}
            values: ERROR x3
        alert_rule_test:
          - eval_time: 10s
            alertname: Errors
            exp_alerts:
              - exp_labels: {severity: [page]}
    """
    done = rules_test(tmp_path, textwrap.dedent(test))
    assert done.returncode == 1
    assert done.stderr.splitlines() == [
        "t.yaml:3:11: name must be a string",
        "t.yaml:5:26: service must be a string",
        "t.yaml:5:40: name must be a string",
        "t.yaml:5:67: attributes: 'user' must be a string, number or boolean, or a list of one of them",
        "t.yaml:5:81: attributes: 'ids' must be a string, number or boolean, or a list of one of them",
        "t.yaml:8:27: logger must be a string",
        "t.yaml:8:49: resource: 'region' must be a string, number or boolean, or a list of one of them",
        "t.yaml:14:36: exp_labels: 'severity' must be text",
    ]
