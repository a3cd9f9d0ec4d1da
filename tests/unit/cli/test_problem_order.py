"""Problems are printed in file order: one rule file printed lines 5, 6, 7, 8, 11, 10, 9 (readers
go key by key, not line by line), and the config's channel problems came after its rule files'."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from otelbundle.cli.main import main
from otelbundle.config import ConfigProblem, Mark

CONFIG = """\
alerting:
  rule_files: ["rules.yaml"]
  max_group_keys: 0
  notify:
    webhook: {url: "ftp://x"}
"""
RULES = """\
groups:
  - name: g
    rules:
      - alert: A
        for: soon
        expr: error_ratio > 5%
        window: wide
        min_spans: many
"""


def test_config_check_prints_problems_by_file_line_and_column(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "otelbundle.yaml").write_text(CONFIG)
    (tmp_path / "rules.yaml").write_text(RULES)
    monkeypatch.chdir(tmp_path)
    for name in [n for n in os.environ if n.startswith(("OTEL_", "OTELBUNDLE_"))]:
        monkeypatch.delenv(name)
    assert main(["config", "check", "otelbundle.yaml"]) == 1
    lines = [line for line in capsys.readouterr().err.splitlines() if ": FAILED:" not in line]
    positions = [line.split(": ", 1)[0].rsplit("/", 1)[-1] for line in lines]
    assert positions == [
        "otelbundle.yaml:3:19",
        "otelbundle.yaml:5:21",
        "rules.yaml:5:14",
        "rules.yaml:7:17",
        "rules.yaml:8:20",
    ]


def test_rules_check_prints_a_rule_files_problems_in_line_order(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "rules.yaml").write_text(RULES)
    monkeypatch.chdir(tmp_path)
    assert main(["rules", "check", "rules.yaml"]) == 1
    lines = capsys.readouterr().err.splitlines()[2:]
    assert [line.split(": ", 1)[0] for line in lines] == [
        "rules.yaml:5:14",
        "rules.yaml:7:17",
        "rules.yaml:8:20",
    ]


def test_problems_at_one_position_keep_the_order_they_were_found_in() -> None:
    from otelbundle.config import in_file_order  # new: the old code had no such function

    def at(file: str, line: int, column: int, message: str) -> ConfigProblem:
        return ConfigProblem(Mark(file, line, column), message)

    found = [
        at("c.yaml", 5, 1, "first at 5:1"),
        at("r.yaml", 2, 1, "rule file"),
        at("c.yaml", 2, 7, "at 2:7"),
        at("c.yaml", 5, 1, "second at 5:1"),
        at("c.yaml", 2, 3, "at 2:3"),
    ]
    assert [p.message for p in in_file_order(found)] == [
        "at 2:3",
        "at 2:7",
        "first at 5:1",
        "second at 5:1",
        "rule file",
    ]


def test_problems_at_start_are_logged_in_file_order(capsys: pytest.CaptureFixture[str]) -> None:
    from otelbundle.config.report import forget_reported, log_problems

    forget_reported()
    found = [ConfigProblem(Mark("o.yaml", line, 3), f"problem {line}") for line in (9, 4, 7)]
    log_problems(found, "{n} problem(s)", once=False)
    lines = capsys.readouterr().err.splitlines()
    assert lines[:3] == [
        "ERROR o.yaml:4:3: problem 4",
        "ERROR o.yaml:7:3: problem 7",
        "ERROR o.yaml:9:3: problem 9",
    ]
