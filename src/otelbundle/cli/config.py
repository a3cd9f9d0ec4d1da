"""``otelbundle config check [FILE]``: every section of otelbundle.yaml and the files it names."""

from __future__ import annotations

import argparse
import os
import sys

from otelbundle.cli.checks import check_config, put_cwd_on_path
from otelbundle.config import env_checks, environment, in_file_order


def add_commands(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser("config", help="validate otelbundle.yaml")
    actions = parser.add_subparsers(dest="config_action", metavar="ACTION", required=True)
    check = actions.add_parser(
        "check",
        help="validate every section and the files it names; exit 1 on any problem",
        description="Validate every section of otelbundle.yaml (alerting with its rule files and "
        "notifiers, health with its python check modules, scrub) and print every problem as "
        "file:line:column: message. FILE defaults to the file the app loads: $OTELBUNDLE_CONFIG, "
        "else ./otelbundle.yaml.",
    )
    check.add_argument(
        "file", nargs="?", metavar="FILE", help="default: $OTELBUNDLE_CONFIG, else ./otelbundle.yaml"
    )
    check.set_defaults(func=check_command)


def check_command(args: argparse.Namespace) -> int:
    path = args.file or environment.config_path(os.environ)
    if path is None:
        print(
            "otelbundle config check: no file given, OTELBUNDLE_CONFIG is not set and there is no "
            "./otelbundle.yaml",
            file=sys.stderr,
        )
        return 1
    put_cwd_on_path()
    _say_environment_problems()
    report = check_config(path, os.environ)
    if not report.ok:
        shown = in_file_order(report.problems)
        for problem in shown:
            print(problem, file=sys.stderr)
        print(f"{path}: FAILED: {len(shown)} problem(s)", file=sys.stderr)
        return 1
    found = ", ".join(report.found) or "no sections"
    print(f"{path}: SUCCESS: {found}")
    return 0


def _say_environment_problems() -> None:
    """OTEL_*/OTELBUNDLE_* values in this shell that the app would refuse at start (and run on
    without): said as warnings, since the app's environment may not be this one, and not counted
    in the exit status, which is the file's."""
    problems = env_checks.invalid_values(os.environ)
    for problem in problems:
        print(f"environment: warning: {problem.message().removeprefix('otelbundle: ')}", file=sys.stderr)
    if problems:
        print(
            f"environment: {len(problems)} variable(s) of this shell that an app started here would "
            "not use as set; it says the same at start and runs on (its own environment may differ)",
            file=sys.stderr,
        )
