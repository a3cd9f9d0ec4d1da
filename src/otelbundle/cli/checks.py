"""Every section of ``otelbundle.yaml`` (and the files it names) checked in one report.

``otelbundle config check`` prints this report; ``rules check`` and ``health check``
print the alerting and health parts of it. The same readers run at application
start, so the check says exactly what the app would switch off.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from otelbundle.config.loader import YamlMap, load_file
from otelbundle.config.problems import ConfigError, ConfigProblem, Mark, unknown_keys

if TYPE_CHECKING:
    from otelbundle.alerting.section import AlertingConfig

SECTIONS = ("alerting", "health", "scrub")


@dataclass
class Report:
    """The problems of one config file, in file order, and what it would switch on."""

    path: str
    problems: list[ConfigProblem] = field(default_factory=list)
    found: list[str] = field(default_factory=list)  # e.g. "5 alert rules in 2 rule files"

    @property
    def ok(self) -> bool:
        return not self.problems


def put_cwd_on_path() -> None:
    """Find ``python`` health-check modules as the app does: the current directory on ``sys.path``.

    ``python -m app`` (and ``python app.py`` from the project folder) can import the
    project's packages; a console script such as ``otelbundle`` cannot unless we add it.
    """
    cwd = os.getcwd()
    if cwd not in sys.path and "" not in sys.path:
        sys.path.insert(0, cwd)


def top_level_problems(path: str, env: Mapping[str, str] | None = None) -> list[ConfigProblem]:
    """Problems of the file as a whole (not a mapping, unknown sections); none when it does not
    parse (each section reports that)."""
    try:
        root = load_file(path, env).root
    except ConfigError:
        return []
    if root is None:
        return []
    if not isinstance(root, YamlMap):
        return [
            ConfigProblem(
                Mark(path, 1, 1), "the file must be a mapping of sections (alerting, health, scrub)"
            )
        ]
    return list(unknown_keys(root, SECTIONS, "otelbundle.yaml"))


def check_alerting(path: str, env: Mapping[str, str], report: Report) -> AlertingConfig | None:
    """Rules, rule files and notifiers; the config as far as it could be read."""
    from otelbundle.alerting.notify import build_notifiers
    from otelbundle.alerting.section import read_alerting_config

    config, problems = read_alerting_config(path, env)
    report.problems.extend(problems)
    if config is None:
        return None
    notifiers, notify_problems = build_notifiers(config.notify, env=env)
    report.problems.extend(notify_problems)
    report.found.append(f"{len(config.rules)} alert rules in {len(config.rule_files)} rule files")
    report.found.append(f"{len(notifiers)} notifiers")
    return config


def check_health(path: str, env: Mapping[str, str], report: Report) -> None:
    from otelbundle.health.section import read_health_config

    config, problems = read_health_config(path, env=env)
    report.problems.extend(problems)
    if config is not None:
        report.found.append(f"{len(config.checks)} health checks")


def check_scrub(path: str, env: Mapping[str, str], report: Report) -> None:
    from otelbundle.scrub.section import load_scrub_settings

    settings, problems = load_scrub_settings(path, env)
    report.problems.extend(problems)
    report.found.append("scrubbing on" if settings.enabled else "scrubbing off")


def check_config(path: str, env: Mapping[str, str] | None = None) -> Report:
    """Every problem in ``path`` and the files it names; never raises."""
    environment = os.environ if env is None else env
    report = Report(path)
    try:
        load_file(path, environment)
    except ConfigError as exc:
        report.problems.extend(exc.problems)  # the sections cannot be read either
        return report
    report.problems.extend(top_level_problems(path, environment))
    check_alerting(path, environment, report)
    check_health(path, environment, report)
    check_scrub(path, environment, report)
    seen: set[str] = set()
    unique = []
    for problem in report.problems:
        if str(problem) not in seen:
            seen.add(str(problem))
            unique.append(problem)
    report.problems = unique
    return report
