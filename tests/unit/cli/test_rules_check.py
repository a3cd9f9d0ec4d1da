"""``otelbundle rules check`` as a person types it: the command in a folder of rule files."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

OTELBUNDLE = str(Path(sys.executable).with_name("otelbundle"))

API_RULES = """\
groups:
  - name: api
    rules:
      - alert: {alert}
        spans: {{service: {service}}}
        expr: error_ratio > 5%
slos:
  - name: {slo}
    spans: {{service: {service}, kind: server}}
    objective: 99%
"""


def otelbundle(folder: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [OTELBUNDLE, *args], cwd=folder, capture_output=True, text=True, timeout=120, check=False
    )


def write(folder: Path, name: str, text: str) -> None:
    (folder / name).write_text(textwrap.dedent(text))


def test_two_rule_files_refused_together_are_refused_by_rules_check_of_both(tmp_path: Path) -> None:
    """Each file is valid alone (promtool's check); loaded together, as one otelbundle.yaml's
    rule_files, they are refused: `rules check a.yaml b.yaml` said SUCCESS."""
    write(tmp_path, "a.yaml", API_RULES.format(alert="Errors", service="shop", slo="checkout"))
    write(tmp_path, "b.yaml", API_RULES.format(alert="Errors", service="cart", slo="checkout"))
    write(tmp_path, "otelbundle.yaml", "alerting:\n  rule_files: [a.yaml, b.yaml]\n")

    done = otelbundle(tmp_path, "rules", "check", "a.yaml", "b.yaml")

    assert done.returncode == 1, done
    assert done.stdout == (
        "Checking a.yaml\n  SUCCESS: 4 rules found\nChecking b.yaml\n  SUCCESS: 4 rules found\n"
    )
    together = [
        "b.yaml:4:1: alert 'Errors' of group 'api' is also at a.yaml:4 (a group of that name in "
        "another rule file): the two would be one rule; rename one of the groups",
        "b.yaml:8:1: SLO 'checkout' is also at a.yaml:8: the two would be one SLO; rename one",
    ]
    assert done.stderr.splitlines() == ["Checking a.yaml b.yaml together", "  FAILED:", *together]
    # exactly what config check says of the two, there with the paths it joined
    config = otelbundle(tmp_path, "config", "check")
    assert config.returncode == 1
    assert config.stderr.replace(f"{tmp_path}/", "").splitlines()[:2] == together


def test_rule_files_that_load_together_say_so(tmp_path: Path) -> None:
    write(tmp_path, "a.yaml", API_RULES.format(alert="Errors", service="shop", slo="checkout"))
    write(tmp_path, "b.yaml", API_RULES.format(alert="Slow", service="cart", slo="cart"))

    done = otelbundle(tmp_path, "rules", "check", "a.yaml", "b.yaml", "./a.yaml")

    assert done.returncode == 0, done
    assert done.stdout.endswith("Checking a.yaml b.yaml together\n  SUCCESS: 8 rules found\n")
    assert done.stderr == ""


def test_a_file_that_fails_alone_is_left_out_of_the_check_together(tmp_path: Path) -> None:
    write(tmp_path, "a.yaml", API_RULES.format(alert="Errors", service="shop", slo="checkout"))
    write(tmp_path, "b.yaml", API_RULES.format(alert="Errors", service="cart", slo="bad name!"))

    done = otelbundle(tmp_path, "rules", "check", "a.yaml", "b.yaml")

    assert done.returncode == 1, done
    assert "together" not in done.stdout + done.stderr
    assert "Checking b.yaml\n  FAILED:\nb.yaml:8:11: " in done.stderr


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        (
            "group:\n  - name: api\n    rules: []\n",
            "r.yaml:1:1: unknown key 'group' in a rule file (groups, slos) or otelbundle.yaml "
            "(did you mean 'groups'?)",
        ),
        (
            "rules:\n  - alert: Errors\n    expr: error_count > 1\n",
            "r.yaml:1:1: unknown key 'rules' in a rule file (groups, slos) or otelbundle.yaml",
        ),
    ],
)
def test_a_misspelled_top_level_key_is_not_success_with_no_rules(
    tmp_path: Path, text: str, problem: str
) -> None:
    """Neither a rule file nor an otelbundle.yaml: it said `SUCCESS: 0 rules found`, exit 0."""
    write(tmp_path, "r.yaml", text)
    done = otelbundle(tmp_path, "rules", "check", "r.yaml")
    assert (done.returncode, done.stdout) == (1, "")
    assert done.stderr == f"Checking r.yaml\n  FAILED:\n{problem}\n"


@pytest.mark.parametrize("value", ["", " abc", " {name: api}"])
def test_groups_that_is_not_a_list_is_named_where_it_is(tmp_path: Path, value: str) -> None:
    """It was `r.yaml:1:1: a rule file needs a top-level 'groups:' or 'slos:' list`, on line 1
    whatever came before it."""
    write(tmp_path, "r.yaml", f"# the api team's rules\n\ngroups:{value}\n")
    done = otelbundle(tmp_path, "rules", "check", "r.yaml")
    assert done.returncode == 1
    assert done.stderr == f"Checking r.yaml\n  FAILED:\nr.yaml:3:{9 if value else 8}: groups must be a list\n"


def test_files_that_cannot_be_read_are_named_without_a_traceback(tmp_path: Path) -> None:
    (tmp_path / "folder").mkdir()
    (tmp_path / "latin1.yaml").write_bytes(b"groups:\n  - name: caf\xe9\n    rules: []\n")
    (tmp_path / "tabs.yaml").write_text("groups:\n\t- name: api\n")
    done = otelbundle(tmp_path, "rules", "check", "missing.yaml", "folder", "latin1.yaml", "tabs.yaml")
    assert done.returncode == 1
    assert done.stderr.splitlines()[2::3] == [
        "missing.yaml:1:1: cannot read file: No such file or directory",
        "folder:1:1: cannot read file: Is a directory",
        "latin1.yaml:2:14: file is not UTF-8 text: byte 0xe9 (invalid continuation byte)",
        "tabs.yaml:2:1: YAML syntax error: found character '\\t' that cannot start any token",
    ]


def test_an_expr_that_is_not_text_is_named_as_such(tmp_path: Path) -> None:
    """`expr:` left empty said `cannot parse expr 'None'`: Python's word for what YAML calls null."""
    write(tmp_path, "r.yaml", "groups:\n  - name: api\n    rules:\n      - alert: A\n        expr:\n")
    done = otelbundle(tmp_path, "rules", "check", "r.yaml")
    assert done.returncode == 1
    assert done.stderr == (
        "Checking r.yaml\n  FAILED:\nr.yaml:5:14: expr must be text, e.g. error_ratio > 5% or absent\n"
    )


def test_a_rule_test_file_among_the_rule_files_says_what_runs_it(tmp_path: Path) -> None:
    """`rules check rules/*.yaml` in a folder with its tests (as examples/rules/): a test file was
    an otelbundle.yaml with no alert rules, `SUCCESS: 0 rules found`."""
    write(tmp_path, "a.yaml", API_RULES.format(alert="Errors", service="shop", slo="checkout"))
    write(tmp_path, "a.test.yaml", "rule_files: [a.yaml]\ntests: []\n")
    done = otelbundle(tmp_path, "rules", "check", "a.test.yaml", "a.yaml")
    assert done.returncode == 1
    assert done.stderr == (
        "Checking a.test.yaml\n  FAILED:\n"
        "a.test.yaml:2:1: a rule test file (tests:), not rules: `otelbundle rules test` runs it\n"
    )
    assert done.stdout == "Checking a.yaml\n  SUCCESS: 4 rules found\n"
