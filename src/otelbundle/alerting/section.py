"""The ``alerting:`` section and its rule files, read through :mod:`otelbundle.config`.

Every problem is reported as file:line:column. ``alerting.notify`` is kept as a
YamlMap here and validated by :func:`otelbundle.alerting.notify.build_notifiers`,
so a notifier mistake switches off that channel, not the rules.
"""

from __future__ import annotations

import glob
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import yaml

from otelbundle.alerting.predicates import (
    KIND_VALUES,
    Predicate,
    PredicateError,
    all_of,
    parse_predicate,
    referenced_fields,
)
from otelbundle.alerting.rules import ExprError, Rule, SpanMatcher, parse_expr
from otelbundle.alerting.templates import Template, TemplateError, parse_template
from otelbundle.config import (
    ConfigError,
    ConfigProblem,
    Mark,
    Problems,
    YamlList,
    YamlMap,
    load_file,
    parse_count,
    parse_duration,
    parse_number,
)
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
    }
)
GROUP_KEYS = frozenset({"name", "interval", "rules"})
RULE_KEYS = frozenset(
    {
        "alert",
        "spans",
        "expr",
        "window",
        "min_spans",
        "group_by",
        "for",
        "keep_firing_for",
        "labels",
        "annotations",
        "errors_where",
    }
)
SPANS_KEYS = frozenset({"service", "kind", "name", "name_regex", "where"})
_LABEL_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


@dataclass
class RuleGroup:
    name: str
    interval: float
    rules: list[Rule]
    file: str


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

    @property
    def rules(self) -> list[Rule]:
        return [rule for group in self.groups for rule in group.rules]


class _Collector(Problems):
    """The shared problem list plus the few readers only alerting needs."""

    def duration(self, mapping: YamlMap, key: str, default: float, *, allow_zero: bool = False) -> float:
        return self.value(mapping, key, lambda v: parse_duration(v, allow_zero=allow_zero), default)

    def count(self, mapping: YamlMap, key: str, default: int, *, minimum: int = 1) -> int:
        """A whole number; the message reads ``KEY must be a positive integer``."""
        if key not in mapping:
            return default
        try:
            return parse_count(mapping[key], minimum=minimum)
        except ValueError as exc:
            self.add(mapping.value_mark(key), f"{key} {exc}")
            return default

    def mapping(self, parent: YamlMap, key: str) -> YamlMap | None:
        value = parent.get(key)
        if value is None:
            return None
        if not isinstance(value, YamlMap):
            self.add(parent.value_mark(key), f"{key} must be a mapping")
            return None
        return value

    def string_map(self, parent: YamlMap, key: str) -> dict[str, str]:
        value = self.mapping(parent, key)
        if value is None:
            return {}
        result: dict[str, str] = {}
        for name, item in value.items():
            if not _LABEL_NAME.match(name):
                self.add(value.key_mark(name), f"{key}: {name!r} is not a valid label name")
            result[name] = "" if item is None else str(item)
        return result

    def template(self, mapping: YamlMap, key: str, text: str) -> Template | None:
        try:
            return parse_template(text)
        except TemplateError as exc:
            mark = mapping.value_mark(key)
            self.add(Mark(mark.file, mark.line, mark.column + exc.column), f"{key}: template: {exc}")
            return None


def load_alerting_config(path: str, env: Mapping[str, str] | None = None) -> AlertingConfig | None:
    """Parse the file's ``alerting:`` section and its rule files; None when it has none.

    Raises ConfigError listing every problem found (``alerting.notify`` is not
    validated here: see :func:`otelbundle.alerting.notify.build_notifiers`).
    """
    config, problems = read_alerting_config(path, env)
    if problems:
        raise ConfigError(problems)
    return config


def alerting_config_at_start(document: ConfigDocument, env: Mapping[str, str]) -> AlertingConfig | None:
    """The config the alert rules start with; problems are logged (one line each) and mean no
    alert rules (None)."""
    config, problems = read_alerting_section(document, env)
    if log_problems(problems, "alert rules are off because of {n} problem(s) in the configuration"):
        return None
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
    if document.problems:
        return None, list(document.problems)
    found = document.section(SECTION)
    if found is None:
        return None, []
    section, mark = found
    if section is None:  # `alerting:` with nothing under it: as if absent
        return None, []
    problems = _Collector()
    config = AlertingConfig(path=path)
    if not isinstance(section, YamlMap):
        return None, [ConfigProblem(mark, "alerting must be a mapping")]
    problems.unknown_keys(section, ALERTING_KEYS, "alerting")
    problems.unset_env(section, skip={"notify"})
    config.evaluation_interval = problems.duration(section, "evaluation_interval", 1.0)
    config.resend_delay = problems.duration(section, "resend_delay", 60.0)
    config.external_labels = problems.string_map(section, "external_labels")
    config.notify = problems.mapping(section, "notify")
    for key in ("max_group_keys", "notification_queue_size", "span_queue_size"):
        setattr(config, key, problems.count(section, key, getattr(config, key)))
    config.see_unsampled_spans = problems.value(section, "see_unsampled_spans", _bool, True)
    if "generator_url" in section:
        config.generator_url = problems.template(section, "generator_url", str(section["generator_url"]))
    config.rule_files = _rule_files(section, path, problems)
    for rule_file in config.rule_files:
        try:
            config.groups.extend(load_rule_file(rule_file, config, env))
        except ConfigError as exc:
            problems.extend(exc.problems)
    return config, problems.items


def _bool(value: Any) -> bool:
    if not isinstance(value, bool):
        raise ValueError("must be true or false")
    return value


def _rule_files(section: YamlMap, path: str, problems: _Collector) -> list[str]:
    """The files ``rule_files:`` globs name, relative to the config file; none when the key is absent."""
    patterns = section.get("rule_files")
    if patterns is None:
        return []
    if not isinstance(patterns, YamlList):
        problems.add(section.value_mark("rule_files"), "rule_files must be a list of globs")
        return []
    base = os.path.dirname(os.path.abspath(path))
    found: list[str] = []
    for index, pattern in enumerate(patterns):
        if not isinstance(pattern, str) or not pattern:
            problems.add(patterns.item_mark(index), f"rule_files: {pattern!r} is not a file name or glob")
            continue
        matched = sorted(glob.glob(os.path.join(base, pattern)))
        if not matched:
            problems.add(patterns.item_mark(index), f"rule_files: {pattern!r} matches no file")
        found.extend(matched)
    return found


def load_rule_file(
    path: str, config: AlertingConfig, env: Mapping[str, str] | None = None
) -> list[RuleGroup]:
    document = load_file(path, env)
    root = document.root
    problems = _Collector()
    if not isinstance(root, YamlMap) or not isinstance(root.get("groups"), YamlList):
        raise ConfigError([ConfigProblem(Mark(path, 1, 1), "a rule file needs a top-level 'groups:' list")])
    problems.unknown_keys(root, {"groups"}, "the rule file")
    problems.unset_env(root)
    groups: list[RuleGroup] = []
    seen_groups: set[str] = set()
    for group_index, group_map in enumerate(root["groups"]):
        if not isinstance(group_map, YamlMap):
            problems.add(root["groups"].item_mark(group_index), "each group must be a mapping")
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
        interval = problems.duration(group_map, "interval", config.evaluation_interval)
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
            rule = _load_rule(rule_map, name, interval, config, problems)
            if rule is None:
                continue
            if rule.name in seen_alerts:
                problems.add(
                    rule_map.value_mark("alert"), f"duplicate alert name {rule.name!r} in group {name!r}"
                )
            seen_alerts.add(rule.name)
            rules.append(rule)
        groups.append(RuleGroup(name, interval, rules, path))
    problems.raise_if_any()
    return groups


def _predicate(problems: _Collector, items: YamlList, index: int, where: str) -> Predicate | None:
    text = items[index]
    mark = items.item_mark(index)
    if not isinstance(text, str):
        problems.add(mark, f"{where}: each condition is a string, e.g. duration > 250ms")
        return None
    try:
        return parse_predicate(text)
    except PredicateError as exc:
        problems.add(Mark(mark.file, mark.line, mark.column + exc.column - 1), f"{where}: {exc}")
        return None


def _load_rule(
    rule_map: YamlMap, group: str, interval: float, config: AlertingConfig, problems: _Collector
) -> Rule | None:
    before = len(problems)
    problems.unknown_keys(rule_map, RULE_KEYS, "a rule")
    name = rule_map.get("alert")
    if not isinstance(name, str) or not _LABEL_NAME.match(name):
        problems.add(
            rule_map.value_mark("alert") if "alert" in rule_map else rule_map.mark,
            "rule needs 'alert:' with a valid name",
        )
        name = "?"
    matcher = _load_matcher(rule_map, problems)
    condition = None
    if "expr" not in rule_map:
        problems.add(rule_map.mark, f"{name}: rule needs 'expr:'")
    else:
        try:
            condition = parse_expr(str(rule_map["expr"]), parse_number)
        except ExprError as exc:
            problems.add(rule_map.value_mark("expr"), f"expr: {exc}")
    window = problems.duration(rule_map, "window", 60.0)
    min_spans = problems.count(rule_map, "min_spans", 1, minimum=0)
    group_by: tuple[str, ...] = ()
    if "group_by" in rule_map:
        raw = rule_map["group_by"]
        if not isinstance(raw, YamlList) or not all(isinstance(x, str) for x in raw):
            problems.add(rule_map.value_mark("group_by"), "group_by must be a list of attribute names")
        else:
            group_by = tuple(raw)
            if condition is not None and condition.aggregate == "absent" and group_by:
                problems.add(
                    rule_map.key_mark("group_by"),
                    "group_by cannot be used with absent: a missing group produces no spans to group by",
                )
    errors_where = None
    if "errors_where" in rule_map:
        raw = rule_map["errors_where"]
        items = raw if isinstance(raw, YamlList) else None
        if items is None:
            problems.add(rule_map.value_mark("errors_where"), "errors_where must be a list of conditions")
        else:
            compiled = [p for i in range(len(items)) if (p := _predicate(problems, items, i, "errors_where"))]
            errors_where = all_of(tuple(compiled)) if compiled else None
    labels = problems.string_map(rule_map, "labels")
    annotations: dict[str, Template] = {}
    annotation_map = problems.mapping(rule_map, "annotations")
    for key, text in (annotation_map or {}).items():
        assert annotation_map is not None
        template = problems.template(annotation_map, key, "" if text is None else str(text))
        if template is not None:
            annotations[key] = template
    for_ = problems.duration(rule_map, "for", 0.0, allow_zero=True)
    keep = problems.duration(rule_map, "keep_firing_for", 0.0, allow_zero=True)
    if len(problems) > before or condition is None or matcher is None:
        return None
    mark = rule_map.mark
    return Rule(
        name=name,
        group=group,
        matcher=matcher,
        condition=condition,
        window=window,
        min_spans=min_spans,
        group_by=group_by,
        for_=for_,
        keep_firing_for=keep,
        labels=labels,
        annotations=annotations,
        errors_where=errors_where,
        fields=_fields_read(rule_map, group_by),
        source=yaml.safe_dump(_plain(rule_map), sort_keys=True),
        location=f"{mark.file}:{mark.line}",
        max_group_keys=config.max_group_keys,
        interval=interval,
    )


def _load_matcher(rule_map: YamlMap, problems: _Collector) -> SpanMatcher | None:
    spans = problems.mapping(rule_map, "spans")
    if spans is None:
        return SpanMatcher()
    problems.unknown_keys(spans, SPANS_KEYS, "spans")
    kind = spans.get("kind")
    if kind is not None and kind not in KIND_VALUES:
        problems.add(spans.value_mark("kind"), f"kind must be one of {', '.join(KIND_VALUES)}")
    if "name" in spans and "name_regex" in spans:
        problems.add(spans.key_mark("name_regex"), "use either name or name_regex, not both")
    name_regex = None
    if "name_regex" in spans:
        try:
            name_regex = re.compile(str(spans["name_regex"]))
        except re.error as exc:
            problems.add(spans.value_mark("name_regex"), f"name_regex: {exc}")
    where: list[Predicate] = []
    if "where" in spans:
        items = spans["where"]
        if not isinstance(items, YamlList):
            problems.add(spans.value_mark("where"), "where must be a list of conditions")
        else:
            where = [p for i in range(len(items)) if (p := _predicate(problems, items, i, "where"))]
    for key in ("service", "name"):
        if key in spans and not isinstance(spans[key], str):
            problems.add(spans.value_mark(key), f"{key} must be a string")
            return None
    return SpanMatcher(
        service=str(spans["service"]) if "service" in spans else None,
        kind=str(kind) if kind is not None else None,
        name=str(spans["name"]) if "name" in spans else None,
        name_regex=name_regex,
        where=tuple(where),
    )


def _fields_read(rule_map: YamlMap, group_by: tuple[str, ...]) -> frozenset[str]:
    """Every span field the rule reads beyond service, kind and name (all valid by now)."""
    spans = rule_map.get("spans")
    texts = [
        *(spans.get("where") or [] if isinstance(spans, YamlMap) else []),
        *(rule_map.get("errors_where") or []),
    ]
    return frozenset(group_by).union(*(referenced_fields(str(text)) for text in texts))


def _plain(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    return value
