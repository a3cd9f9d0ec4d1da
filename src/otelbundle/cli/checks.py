"""Every section of ``otelbundle.yaml`` (and the files it names) checked in one report.

``otelbundle config check`` prints this report; ``rules check`` and ``health check``
print the alerting and health parts of it. The file is read once into a
:class:`~otelbundle.config.document.ConfigDocument` and given to the same
section readers the application starts with, so the check says exactly what the
app would switch off.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field

from otelbundle.alerting.notify import build_channels
from otelbundle.alerting.section import AlertingConfig, read_alerting_section
from otelbundle.config import ConfigProblem
from otelbundle.config.document import ConfigDocument, read_document
from otelbundle.health.section import read_health_section
from otelbundle.scrub.section import read_scrub_section


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


def check_alerting(document: ConfigDocument, env: Mapping[str, str], report: Report) -> AlertingConfig | None:
    """Rules, rule files and notifiers; the config as far as it could be read."""
    config, problems = read_alerting_section(document, env)
    report.problems.extend(problems)
    if config is None:
        return None
    notifiers, notify_problems = build_channels(config.notify, env=env)
    report.problems.extend(notify_problems)
    report.found.append(f"{len(config.rules)} alert rules in {len(config.rule_files)} rule files")
    repeats = f" (repeating a firing alert: {', '.join(n.repeats() for n in notifiers)})" if notifiers else ""
    report.found.append(f"{len(notifiers)} notifiers{repeats}")
    return config


def check_health(document: ConfigDocument, report: Report) -> None:
    config, problems = read_health_section(document)
    report.problems.extend(problems)
    if config is not None:
        report.found.append(f"{len(config.checks)} health checks")


def check_scrub(document: ConfigDocument, env: Mapping[str, str], report: Report) -> None:
    settings, problems = read_scrub_section(document, env)
    report.problems.extend(problems)
    report.found.append("scrubbing on" if settings.enabled else "scrubbing off")


def check_config(path: str, env: Mapping[str, str] | None = None) -> Report:
    """Every problem in ``path`` and the files it names; never raises."""
    environment = os.environ if env is None else env
    report = Report(path)
    document = read_document(path, environment)
    if document.problems:
        report.problems.extend(document.problems)  # the sections cannot be read either
        return report
    report.problems.extend(document.unknown_sections())
    check_alerting(document, environment, report)
    check_health(document, report)
    check_scrub(document, environment, report)
    seen: set[str] = set()
    unique = []
    for problem in report.problems:
        if str(problem) not in seen:
            seen.add(str(problem))
            unique.append(problem)
    report.problems = unique
    return report
