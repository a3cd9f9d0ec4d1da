"""``otelbundle health check FILE`` (validate) and ``otelbundle health run FILE`` (run each check once).

``check`` is for CI, like ``promtool check rules``; ``run`` answers "what would
the checks say from this machine right now?" while writing the config.
"""

from __future__ import annotations

import argparse
import sys
import time

from otelbundle.cli.checks import put_cwd_on_path
from otelbundle.config import in_file_order
from otelbundle.config.document import read_document
from otelbundle.health.model import CheckResult, Status
from otelbundle.health.scheduler import Scheduler
from otelbundle.health.section import HealthConfig, read_health_section


def add_commands(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    health = subparsers.add_parser("health", help="validate or try out the health: section of a config file")
    commands = health.add_subparsers(dest="health_command", metavar="COMMAND", required=True)
    check = commands.add_parser("check", help="validate; exit 1 with file:line:column for every problem")
    check.add_argument("files", nargs="+", metavar="FILE", help="an otelbundle.yaml with a health: section")
    check.set_defaults(func=_check)
    run = commands.add_parser("run", help="run every check once and print its status; exit 1 if any fails")
    run.add_argument("file", metavar="FILE", help="an otelbundle.yaml with a health: section")
    run.set_defaults(func=_run)


def _load(path: str) -> HealthConfig | None:
    """The file's health: section, or None after printing why not: its problems as
    ``config check`` prints them (in file order, a cause once) and a FAILED line."""
    put_cwd_on_path()  # `python` checks import from the project folder, as in the app
    document = read_document(path)
    config, problems = read_health_section(document)
    if config is None and not problems:
        # No section: a misspelt one (`helth:`) is the likely reason, said where it is.
        problems = [p for p in document.unknown_sections() if "'health'" in p.message]
        if not problems:
            print(f"{path}: no health: section", file=sys.stderr)
            return None
    if problems:
        shown = in_file_order(problems)
        for problem in shown:
            print(problem, file=sys.stderr)
        print(f"{path}: FAILED: {len(shown)} problem(s)", file=sys.stderr)
        return None
    return config


def _check(args: argparse.Namespace) -> int:
    failed = False
    for path in args.files:
        config = _load(path)
        if config is None:
            failed = True
            continue
        print(f"{path}: SUCCESS: {len(config.checks)} health checks")
    return 1 if failed else 0


def _run(args: argparse.Namespace) -> int:
    config = _load(args.file)
    if config is None:
        return 1
    results: dict[str, CheckResult] = {}

    def keep_first(result: CheckResult) -> None:
        results.setdefault(result.name, result)

    scheduler = Scheduler(config.checks, keep_first)
    deadline = max(c.spec.timeout_s for c in config.checks) + 0.5
    end = time.monotonic() + deadline
    while len(results) < len(config.checks) and time.monotonic() < end:
        time.sleep(min(scheduler.tick(), 0.05))
    for check in config.checks:
        result = results.get(check.spec.name)
        if result is None:
            print(f"{check.spec.name:<20} failing   no result within its timeout")
            continue
        print(
            f"{result.name:<20} {result.status.label:<9} {result.message} ({result.duration_s * 1000:.0f} ms)"
        )
    return (
        0
        if all(r.status is not Status.FAILING for r in results.values())
        and len(results) == len(config.checks)
        else 1
    )
