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
