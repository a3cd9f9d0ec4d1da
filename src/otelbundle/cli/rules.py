"""``otelbundle rules check|test FILE...``: like ``promtool check rules`` and ``promtool test rules``."""

from __future__ import annotations

import argparse
import os
import sys

from otelbundle.alerting.rule_files import (
    FILE_KEYS,
    TEST_FILE,
    RuleGroup,
    is_rule_file,
    load_rule_file,
)
from otelbundle.alerting.section import AlertingConfig, rules_named_twice
from otelbundle.cli.checks import Report, check_alerting
from otelbundle.config import ConfigError, ConfigProblem, in_file_order, unknown_keys
from otelbundle.config.document import read_document, section_names


def add_commands(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser("rules", help="check and test alert rule files (like promtool)")
    actions = parser.add_subparsers(dest="action", metavar="ACTION", required=True)
    check = actions.add_parser(
        "check", help="validate otelbundle.yaml files or rule files; exit 1 on any problem"
    )
    check.add_argument(
        "files",
        nargs="+",
        metavar="FILE",
        help="an otelbundle.yaml (its alerting: section, the rule files it names and notify:) "
        "or a rule file (groups:, slos:)",
    )
    check.set_defaults(func=check_files)
    test = actions.add_parser(
        "test", help="run promtool-style unit tests of rules (input_spans, eval_time, exp_alerts)"
    )
    test.add_argument(
        "files",
        nargs="+",
        metavar="FILE",
        help="a rule test file (rule_files:, tests:); see docs/alerting.md",
    )
    test.set_defaults(func=test_files)


def test_files(args: argparse.Namespace) -> int:
    from otelbundle.cli.ruletest import run_test_file

    failed = False
    for path in args.files:
        print(f"Unit Testing: {path}")
        warnings: list[ConfigProblem] = []
        try:
            failures = run_test_file(path, os.environ, warnings)
        except ConfigError as exc:
            failed = True
            for problem in in_file_order(exc.problems):
                print(f"{problem}", file=sys.stderr)
            continue
        except (ValueError, KeyError, TypeError) as exc:
            failed = True
            print(f"{path}: {exc}", file=sys.stderr)
            continue
        for warning in in_file_order(warnings):
            print(f"{warning}", file=sys.stderr)
        if failures:
            failed = True
            print("  FAILED:", file=sys.stderr)
            for failure in failures:
                print(failure, file=sys.stderr)
        else:
            print("  SUCCESS")
    return 1 if failed else 0


def check_files(args: argparse.Namespace) -> int:
    """Each file alone, as promtool does; then the rule files among them together, as one
    otelbundle.yaml's ``rule_files:`` would load them (a group name and alert name, or an
    SLO name, in two of them is refused there, so it is here)."""
    failed = False
    rule_files: dict[str, tuple[str, list[RuleGroup]]] = {}  # by real path: a file named twice is one
    for path in args.files:
        try:
            rules, groups = _check_one(path)
        except ConfigError as exc:
            failed = True
            print(f"Checking {path}\n  FAILED:", file=sys.stderr)
            for problem in in_file_order(exc.problems):
                print(f"{problem}", file=sys.stderr)
            continue
        print(f"Checking {path}\n  SUCCESS: {rules} rules found")
        if groups is not None:
            rule_files.setdefault(os.path.realpath(path), (path, groups))
    if len(rule_files) > 1 and not _check_together(list(rule_files.values())):
        failed = True
    return 1 if failed else 0


def _check_together(files: list[tuple[str, list[RuleGroup]]]) -> bool:
    names = " ".join(path for path, _ in files)
    groups = [group for _, file_groups in files for group in file_groups]
    problems = rules_named_twice(groups)
    if problems:
        print(f"Checking {names} together\n  FAILED:", file=sys.stderr)
        for problem in in_file_order(problems):
            print(f"{problem}", file=sys.stderr)
        return False
    print(f"Checking {names} together\n  SUCCESS: {sum(len(g.rules) for g in groups)} rules found")
    return True


def _check_one(path: str) -> tuple[int, list[RuleGroup] | None]:
    """A config's `alerting:` part (rule files and notifiers, as `config check` sees them), or a
    rule file with `groups:` and/or `slos:` (an SLO counts as the burn-rate rules it becomes).

    The number of rules, and a rule file's groups (None for a config)."""
    document = read_document(path, os.environ)
    if document.problems:
        raise ConfigError(document.problems)
    if is_rule_file(document.root):
        groups = load_rule_file(path, AlertingConfig(path=path), os.environ)
        return sum(len(g.rules) for g in groups), groups
    if document.root is not None and "tests" in document.root:  # `rules check rules/*.yaml` meets them
        raise ConfigError([ConfigProblem(document.root.key_mark("tests"), TEST_FILE)])
    report = Report(path)
    if document.root is not None:  # `group:` is neither: not "SUCCESS: 0 rules found"
        where = f"a rule file ({', '.join(FILE_KEYS)}) or otelbundle.yaml"
        report.problems.extend(unknown_keys(document.root, [*FILE_KEYS, *section_names()], where))
    config = check_alerting(document, os.environ, report)
    if report.problems:
        raise ConfigError(report.problems)
    return (len(config.rules) if config else 0), None
