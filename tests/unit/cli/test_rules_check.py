"""``otelbundle rules check`` as a person types it: the command in a folder of rule files."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

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
