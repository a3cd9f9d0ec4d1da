"""A rule file: ``groups:`` of alert rules and ``slos:``, read through :mod:`otelbundle.config`.

An SLO (its keys: :mod:`otelbundle.alerting.slo.reader`) becomes burn-rate rules,
one rule group each (:mod:`otelbundle.alerting.slo.burn`), next to the file's groups.

Every problem is reported as file:line:column and collected, so one run shows
all of them (:class:`~otelbundle.alerting.rule_reader.RuleReader`). One rule of
a group is read by :mod:`otelbundle.alerting.rule_reader`. The ``alerting:``
section that names rule files, and their defaults, is :mod:`otelbundle.alerting.section`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from otelbundle.alerting.rule_reader import RuleDefaults, RuleReader, read_matcher, read_rule
from otelbundle.alerting.rules import Rule
from otelbundle.alerting.slo.burn import burn_rate_rules
from otelbundle.alerting.slo.model import Slo
from otelbundle.alerting.slo.reader import read_slo
from otelbundle.config import (
    ConfigError,
    ConfigProblem,
    Mark,
    YamlList,
    YamlMap,
    load_file,
    new_list,
)

FILE_KEYS = ("groups", "slos")
GROUP_KEYS = frozenset({"name", "interval", "rules"})


TEST_FILE = "a rule test file (tests:), not rules: `otelbundle rules test` runs it"
NOT_RULES = "a rule file needs a top-level 'groups:' or 'slos:' list"


class NotARuleFile(ConfigError):
    """The file has neither ``groups:`` nor ``slos:``; ``reason`` says what it is instead, for a
    caller that knows why it was read (the ``rule_files:`` glob that matched it) to say there."""

    def __init__(self, path: str, reason: str) -> None:
        self.path, self.reason = path, reason
        super().__init__([ConfigProblem(Mark(path, 1, 1), reason)])


def not_rules_reason(root: object) -> str:
    """Why a file without ``groups:`` or ``slos:`` is not read as rules."""
    return TEST_FILE if isinstance(root, dict) and "tests" in root else NOT_RULES


@dataclass
class RuleGroup:
    name: str
    interval: float
    rules: list[Rule]
    file: str


def is_rule_file(root: object) -> bool:
    """A rule file's top level (``groups:`` or ``slos:``), not an otelbundle.yaml that names rule
    files: the commands that take either (``rules check``, ``slo generate``) tell them apart so."""
    return isinstance(root, dict) and any(key in root for key in FILE_KEYS)


def load_rule_file(path: str, config: RuleDefaults, env: Mapping[str, str] | None = None) -> list[RuleGroup]:
    """The groups of a rule file: its ``groups:`` and, for each of its ``slos:``, the SLO's
    burn-rate rules (otelbundle.alerting.slo).

    An empty file (or one of comments only) is a file of no rules, as ``rules check`` and
    promtool say: a placeholder a ``rule_files:`` glob matches must not turn off every rule."""
    document = load_file(path, env)
    root = document.root
    if root is None:
        return []
    problems = RuleReader()
    if not isinstance(root, YamlMap) or not any(key in root for key in FILE_KEYS):
        raise NotARuleFile(path, not_rules_reason(root))
    problems.unknown_keys(root, FILE_KEYS, "the rule file")
    problems.unset_env(root)
    for key in FILE_KEYS:
        if key in root and not isinstance(root[key], YamlList):
            problems.add(root.value_mark(key), f"{key} must be a list")
            root[key] = new_list(root.mark)
    groups = _load_groups(root.get("groups") or new_list(root.mark), path, config, problems)
    for slo in _load_slos(root.get("slos") or new_list(root.mark), problems):
        groups.extend(
            RuleGroup(rule.group, rule.interval, [rule], path)
            for rule in burn_rate_rules(slo, config.evaluation_interval)
        )
    problems.raise_if_any()
    return groups


def load_slos(path: str, env: Mapping[str, str] | None = None) -> list[Slo]:
    """The SLOs of a rule file (``otelbundle slo generate``); ConfigError lists every problem."""
    groups_and_slos = load_file(path, env).root
    problems = RuleReader()
    slos = groups_and_slos.get("slos") if isinstance(groups_and_slos, YamlMap) else None
    found = _load_slos(slos, problems) if isinstance(slos, YamlList) else []
    problems.raise_if_any()
    return found


def _load_slos(items: YamlList, problems: RuleReader) -> list[Slo]:
    slos: list[Slo] = []
    seen: set[str] = set()
    for index, slo_map in enumerate(items):
        if not isinstance(slo_map, YamlMap):
            problems.add(items.item_mark(index), "each SLO must be a mapping")
            continue
        slo = read_slo(slo_map, read_matcher(slo_map, problems), problems)
        if slo is None:
            continue
        if slo.name in seen:
            problems.add(slo_map.value_mark("name"), f"duplicate SLO name {slo.name!r}")
        seen.add(slo.name)
        slos.append(slo)
    return slos


def _load_groups(items: YamlList, path: str, config: RuleDefaults, problems: RuleReader) -> list[RuleGroup]:
    groups: list[RuleGroup] = []
    seen_groups: set[str] = set()
    for group_index, group_map in enumerate(items):
        if not isinstance(group_map, YamlMap):
            problems.add(items.item_mark(group_index), "each group must be a mapping")
            continue
        problems.unknown_keys(group_map, GROUP_KEYS, "a group")
        raw_name = group_map.get("name")
        name = (
            str(raw_name)
            if isinstance(raw_name, (str, int, float)) and not isinstance(raw_name, bool)
            else ""
        )
        if not name:
            problems.add(group_map.mark, "group needs a name")
        elif name in seen_groups:
            problems.add(group_map.value_mark("name"), f"duplicate group name {name!r}")
        seen_groups.add(name)
        interval = problems.interval(group_map, "interval", config.evaluation_interval)
        rules: list[Rule] = []
        seen_alerts: set[str] = set()
        rule_list = group_map.get("rules")
        if not isinstance(rule_list, YamlList):
            problems.add(
                group_map.key_mark("rules") if "rules" in group_map else group_map.mark,
                "group needs a 'rules:' list",
            )
            continue
        for rule_index, rule_map in enumerate(rule_list):
            if not isinstance(rule_map, YamlMap):
                problems.add(rule_list.item_mark(rule_index), "each rule must be a mapping")
                continue
            rule = read_rule(rule_map, name, interval, config, problems)
            if rule is None:
                continue
            if rule.name in seen_alerts:
                # Prometheus allows it (warning and critical tiers of one alert); here a rule's
                # windows and alerts are kept by group and alert name, so each must be unique.
                problems.add(
                    rule_map.value_mark("alert"),
                    f"duplicate alert name {rule.name!r} in group {name!r}: each rule of a group needs "
                    "its own alert name here (for severity tiers, put them in groups of their own)",
                )
            seen_alerts.add(rule.name)
            rules.append(rule)
        groups.append(RuleGroup(name, interval, rules, path))
    return groups
