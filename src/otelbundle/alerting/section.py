"""The ``alerting:`` section, read through :mod:`otelbundle.config`; its rule files are read by
:mod:`otelbundle.alerting.rule_files`.

Every problem is reported as file:line:column. ``alerting.notify`` is kept as a
YamlMap here and validated by :func:`otelbundle.alerting.notify.build_notifiers`,
so a notifier mistake switches off that channel, not the rules.
"""

from __future__ import annotations

import glob
import json
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from otelbundle.alerting.rule_files import FILE_KEYS, NotARuleFile, RuleGroup, load_rule_file
from otelbundle.alerting.rule_reader import RuleReader
from otelbundle.alerting.rules import Rule
from otelbundle.alerting.slo.burn import SLO_GROUP_PREFIX
from otelbundle.alerting.templates import Template
from otelbundle.config import ConfigError, ConfigProblem, Mark, YamlList, YamlMap
from otelbundle.config.document import ConfigDocument, read_document, register_section
from otelbundle.config.report import log_problems

SECTION = "alerting"
register_section(SECTION)

ALERTING_KEYS = frozenset(
    {
        "rule_files",
        "evaluation_interval",
        "resend_delay",
        "external_labels",
        "generator_url",
        "see_unsampled_spans",
        "notify",
        "max_group_keys",
        "notification_queue_size",
        "span_queue_size",
        "evaluate_on_spans",
        "min_fold_interval",
    }
)


# Bounds on what the application's memory holds for the rules: a typo (an extra three zeros) must
# not turn a bounded queue into one the process runs out of memory on.
LIMITS: dict[str, tuple[int, str]] = {
    "max_group_keys": (100_000, "per rule, each key's windows are kept in memory"),
    "notification_queue_size": (100_000, "per channel, each queued batch is kept in memory"),
    "span_queue_size": (1_000_000, "each queued span is kept in memory until the engine folds it"),
}


@dataclass
class AlertingConfig:
    path: str
    groups: list[RuleGroup] = field(default_factory=list)
    evaluation_interval: float = 1.0
    resend_delay: float = 60.0
    external_labels: dict[str, str] = field(default_factory=dict)
    generator_url: Template | None = None
    see_unsampled_spans: bool = True
    notify: YamlMap | None = None
    max_group_keys: int = 1000
    notification_queue_size: int = 1000
    span_queue_size: int = 8192
    rule_files: list[str] = field(default_factory=list)
    # The rule_files: globs as written: re-expanded at each reload check, so a file added
    # where a glob points is loaded (RuleFiles in manager.py).
    rule_file_globs: list[str] = field(default_factory=list)
    # At start only: the problems the section was read with. Its rules are then not run
    # (none are), but its files are watched: fixing them loads the rules (alerting_config_at_start).
    problems: list[ConfigProblem] = field(default_factory=list)
    evaluate_on_spans: bool = True  # early evaluation between ticks (engine.py)
    min_fold_interval: float = 0.05  # spans are folded at most this often (coalescing under load)

    @property
    def rules(self) -> list[Rule]:
        return [rule for group in self.groups for rule in group.rules]


def load_alerting_config(path: str, env: Mapping[str, str] | None = None) -> AlertingConfig | None:
    """Parse the file's ``alerting:`` section and its rule files; None when it has none.

    Raises ConfigError listing every problem found (``alerting.notify`` is not
    validated here: see :func:`otelbundle.alerting.notify.build_notifiers`).
    """
    config, problems = read_alerting_config(path, env)
    if problems:
        raise ConfigError(problems)
    return config


OFF_AT_START = (
    "alert rules are off because of {n} problem(s) in the configuration; fixing the files starts them "
    "(no restart needed)"
)
# The file could not be read as a config (a YAML syntax error, an `alerting:` that is not a
# mapping): which rule files it names is unknown, so nothing is watched and SIGHUP is not ours.
OFF_UNTIL_RESTART = (
    "alert rules are off because of {n} problem(s) in the configuration; they start when the "
    "application restarts with the file fixed"
)


def alerting_config_at_start(document: ConfigDocument, env: Mapping[str, str]) -> AlertingConfig | None:
    """The config the alert rules start with; None when the file has no ``alerting:`` section.

    Problems are logged (one line each) and mean no alert rules running, not no alerting:
    the config returned then has no rules but keeps what was read (its channels, its
    settings) and its ``problems``, so the manager still starts, watches the files and
    answers SIGHUP, and a fixed file is loaded as a reload would load it. Without that, a
    typo at start meant no rules until a restart, and SIGHUP, left to its default, killed
    the application."""
    config, problems = read_alerting_section(document, env)
    if config is None:
        log_problems(problems, OFF_UNTIL_RESTART)
        return None
    if log_problems(problems, OFF_AT_START):
        config.groups = []
        config.problems = list(problems)
    return config


def read_alerting_config(
    path: str, env: Mapping[str, str] | None = None
) -> tuple[AlertingConfig | None, list[ConfigProblem]]:
    """:func:`read_alerting_section` of the file at ``path`` (reloads, the check commands); never raises."""
    return read_alerting_section(read_document(path, env), env)


def read_alerting_section(
    document: ConfigDocument, env: Mapping[str, str] | None = None
) -> tuple[AlertingConfig | None, list[ConfigProblem]]:
    """(config, problems) without raising; config is None when the file has no ``alerting:`` section.

    With problems, the config holds what could be read (its ``notify`` is still
    usable, so a check can report notifier problems next to rule problems). The
    problems of a file that cannot be read or parsed are given here: the alert
    rules are the part that reports them at start.
    """
    path = document.path
    section, found_problems = document.mapping_section(SECTION, "alerting must be a mapping")
    if section is None:  # no `alerting:`, or nothing under it: no alert rules
        return None, found_problems
    problems = RuleReader()
    config = AlertingConfig(path=path)
    problems.unknown_keys(section, ALERTING_KEYS | set(FILE_KEYS), "alerting")
    for key in FILE_KEYS:
        if key in section:
            problems.add(
                section.key_mark(key), _INLINE_RULES.format(what=_INLINE_WHAT.get(key, key), key=key)
            )
    problems.unset_env(section, skip={"notify"})
    config.evaluation_interval = problems.interval(section, "evaluation_interval", 1.0)
    config.resend_delay = problems.duration(section, "resend_delay", 60.0)
    config.external_labels = problems.string_map(section, "external_labels")
    config.notify = problems.mapping(section, "notify")
    for key, (maximum, why) in LIMITS.items():
        setattr(config, key, problems.count(section, key, getattr(config, key), maximum=maximum, why=why))
    config.see_unsampled_spans = problems.value(section, "see_unsampled_spans", _bool, True)
    config.evaluate_on_spans = problems.value(section, "evaluate_on_spans", _bool, True)
    config.min_fold_interval = problems.duration(section, "min_fold_interval", 0.05)
    if "generator_url" in section:
        config.generator_url = problems.template(section, "generator_url", str(section["generator_url"]))
    named = _rule_files(section, path, problems)
    config.rule_files = [name.path for name in named]
    config.rule_file_globs = _globs(section)
    for name in named:
        try:
            config.groups.extend(load_rule_file(name.path, config, env))
        except NotARuleFile as exc:
            shown = os.path.relpath(name.path, os.path.dirname(os.path.abspath(path)))
            problems.add(name.mark, f"rule_files: {name.pattern!r} matched {shown}: {exc.reason}")
        except ConfigError as exc:
            problems.extend(exc.problems)
    problems.extend(rules_named_twice(config.groups))
    return config, problems.items


def rules_named_twice(groups: list[RuleGroup]) -> list[ConfigProblem]:
    """Two rules of one group name and alert name in different rule files, one problem each.

    A rule is known by (group, alert) here: its state, its alerts and its gauges. A
    rule file checks its own group names, but two files may each have a group
    ``api`` (Prometheus keys groups by file too): two ``api``/``HighLatency``
    rules would be one, the second silently replacing the first while
    ``config check`` counted both. ``rules check`` of several rule files says the same."""
    problems: list[ConfigProblem] = []
    first: dict[tuple[str, str], Rule] = {}
    reported: set[tuple[str, str]] = set()  # an SLO's tiers collide together: said once
    for group in groups:
        for rule in group.rules:
            seen = first.setdefault((rule.group, rule.name), rule)
            if seen is rule or (seen.location, rule.location) in reported:
                continue
            reported.add((seen.location, rule.location))
            file, _, line = rule.location.rpartition(":")
            if rule.group.startswith(SLO_GROUP_PREFIX):
                name = rule.group.removeprefix(SLO_GROUP_PREFIX).rpartition(":")[0]
                message = f"SLO {name!r} is also at {seen.location}: the two would be one SLO; rename one"
            else:
                message = (
                    f"alert {rule.name!r} of group {rule.group!r} is also at {seen.location} (a group of "
                    "that name in another rule file): the two would be one rule; rename one of the groups"
                )
            problems.append(
                ConfigProblem(Mark(file or group.file, int(line) if line.isdigit() else 1, 1), message)
            )
    return problems


def _bool(value: Any) -> bool:
    if not isinstance(value, bool):
        raise ValueError("must be true or false")
    return value


# `groups:` under `alerting:` was answered "did you mean 'max_group_keys'?": the mistake is the place.
_INLINE_RULES = (
    "{what} are not written in otelbundle.yaml: '{key}:' goes at the top of a rule file that "
    'alerting.rule_files names, e.g. rule_files: ["rules.yaml"]'
)
_INLINE_WHAT = {"groups": "alert rules", "slos": "SLOs"}


def _example(patterns: object) -> str:
    """The glob to show in the example: the one written as a bare string, else ``rules.yaml``."""
    return patterns.strip() if isinstance(patterns, str) and patterns.strip() else "rules.yaml"


@dataclass(frozen=True)
class RuleFileName:
    """A file ``rule_files:`` names, with the glob that matched it (problems about the file
    as a whole are said at the glob: that is what to change)."""

    path: str
    pattern: str
    mark: Mark


def _rule_files(section: YamlMap, path: str, problems: RuleReader) -> list[RuleFileName]:
    """The files ``rule_files:`` globs name, relative to the config file; none when the key is absent.

    A file two globs match (``[rules/*.yaml, rules/extra.yaml]``) is read once, as
    Prometheus does: read twice, its every rule would collide with itself. The config
    file itself is never one: ``rule_files: ["*.yaml"]`` beside otelbundle.yaml means the
    rule files there, and the config (``alerting:``, no ``groups:``) could not be read as one."""
    patterns = section.get("rule_files")
    if patterns is None:
        return []
    if not isinstance(patterns, YamlList):
        problems.add(
            section.value_mark("rule_files"),
            f"rule_files must be a list of globs: write rule_files: [{json.dumps(_example(patterns))}]",
        )
        return []
    base = os.path.dirname(os.path.abspath(path))
    found: list[RuleFileName] = []
    seen = {os.path.realpath(path)}
    for index, pattern in enumerate(patterns):
        if not isinstance(pattern, str) or not pattern:
            problems.add(patterns.item_mark(index), f"rule_files: {pattern!r} is not a file name or glob")
            continue
        matched = _matches(base, pattern)
        if not matched:
            problems.add(patterns.item_mark(index), f"rule_files: {pattern!r} matches no file")
        elif all(os.path.realpath(match) == os.path.realpath(path) for match in matched):
            problems.add(
                patterns.item_mark(index),
                f"rule_files: {pattern!r} matches only this config file, which is not a rule file",
            )
        found += [RuleFileName(m, pattern, patterns.item_mark(index)) for m in _not_seen(matched, seen)]
    return found


def _globs(section: YamlMap) -> list[str]:
    patterns = section.get("rule_files")
    if not isinstance(patterns, YamlList):
        return []
    return [pattern for pattern in patterns if isinstance(pattern, str) and pattern]


def _matches(base: str, pattern: str) -> list[str]:
    return sorted(glob.glob(os.path.join(base, pattern)))


def glob_rule_files(path: str, patterns: list[str]) -> list[str]:
    """The files ``patterns`` (``rule_files:`` globs of the config at ``path``) match now, as
    :func:`_rule_files` reads them (each once, never the config itself), without problems: the
    reload check's question is only whether the set changed."""
    base = os.path.dirname(os.path.abspath(path))
    seen = {os.path.realpath(path)}
    found: list[str] = []
    for pattern in patterns:
        found += _not_seen(_matches(base, pattern), seen)
    return found


def _not_seen(matched: list[str], seen: set[str]) -> list[str]:
    """The files of ``matched`` not in ``seen`` (real paths), which it then holds: each file once."""
    fresh = []
    for match in matched:
        real = os.path.realpath(match)
        if real not in seen:
            seen.add(real)
            fresh.append(match)
    return fresh
