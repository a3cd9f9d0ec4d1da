"""One entry of a group's ``rules:`` list, read with every problem located (file:line:column).

:func:`read_rule` builds the :class:`~otelbundle.alerting.rules.Rule`: its
``spans:`` (or ``logs:``) selector, ``expr``, windows, labels and annotations,
and the checks that span more than one key (a log rule has no ``errors_where``;
an annotation name Alertmanager would refuse). :class:`RuleReader` is the shared
problem list with the few readers only alerting needs (the ``alerting:`` section
and SLOs use it too). The file around the rules, its groups and SLOs, is
:mod:`otelbundle.alerting.rule_files`.
"""

from __future__ import annotations

import re
from typing import Any, Protocol

import yaml

from otelbundle.alerting.log_selector import LOGS_KEYS, LogMatcher, read_log_matcher
from otelbundle.alerting.predicates import (
    KIND_VALUES,
    Predicate,
    PredicateError,
    all_of,
    parse_predicate,
    referenced_fields,
)
from otelbundle.alerting.rules import (
    LOG_AGGREGATES,
    NOT_IN_WINDOWS,
    Condition,
    ExprError,
    Rule,
    SpanMatcher,
    label_name,
    parse_expr,
)
from otelbundle.alerting.state import label_value
from otelbundle.alerting.templates import Template, TemplateError, parse_template
from otelbundle.config import (
    Mark,
    Problems,
    YamlList,
    YamlMap,
    format_duration,
    new_list,
    parse_count,
    parse_duration,
    parse_number,
)
from otelbundle.config.reader import from_environment, quoted_hint
from otelbundle.config.regex_safety import BACKTRACKING_HINT, backtracking_hazard, compile_user_regex

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
        "logs",
    }
)
SPANS_KEYS = frozenset({"service", "kind", "name", "name_regex", "where"})
LABEL_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")  # whole string: fullmatch (a $ lets "a\n" in)
MIN_INTERVAL = 0.01
"""The shortest evaluation interval, 10ms (Prometheus has none; it is not in the application)."""


class RuleDefaults(Protocol):
    """What a rule file takes from the ``alerting:`` section that names it."""

    @property
    def evaluation_interval(self) -> float: ...
    @property
    def max_group_keys(self) -> int: ...


class RuleReader(Problems):
    """The shared problem list plus the few readers only alerting needs."""

    def duration(self, mapping: YamlMap, key: str, default: float, *, allow_zero: bool = False) -> float:
        return self.value(mapping, key, lambda v: parse_duration(v, allow_zero=allow_zero), default)

    def interval(self, mapping: YamlMap, key: str, default: float) -> float:
        """An evaluation interval (a group's ``interval``, ``evaluation_interval``), at least
        :data:`MIN_INTERVAL`: the alert thread evaluates again that long after it finished, so
        ``1ns`` had it evaluate without pause, a whole core of the application's."""
        return self.value(mapping, key, _interval, default)

    def count(
        self,
        mapping: YamlMap,
        key: str,
        default: int,
        *,
        minimum: int = 1,
        maximum: int | None = None,
        why: str = "",
    ) -> int:
        """A whole number; the message reads ``KEY must be a positive integer`` (``why``: after a maximum)."""
        if key not in mapping:
            return default

        def parse(value: Any) -> int:
            return parse_count(value, minimum=minimum, maximum=maximum)

        try:
            return parse(mapping[key])
        except ValueError as exc:
            reason = f" ({why})" if why and "at most" in str(exc) else ""
            hint = quoted_hint(mapping[key], parse, from_environment(mapping.from_env.get(key)))
            self.add(mapping.value_mark(key), f"{key} {exc}{reason}{hint}")
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
        for name in value:
            if not LABEL_NAME.fullmatch(name):
                self.add(value.key_mark(name), f"{key}: {name!r} is not a valid label name")
            text = self.text(value, name, key)
            if text is not None:
                result[name] = text
        return result

    def text(self, mapping: YamlMap, key: str, where: str) -> str | None:
        """A label or annotation value: text; a number or boolean as Prometheus reads it, the
        text as written (``0x10``, ``010``, ``yes``; not ``16``, ``8``, ``True``); null is the empty
        value; a list or mapping is a problem (None), not its repr."""
        value = mapping[key]
        if isinstance(value, (YamlMap, YamlList)):
            kind = "mapping" if isinstance(value, YamlMap) else "list"
            self.add(mapping.value_mark(key), f"{where}: {key!r} must be text, not a {kind}")
            return None
        written = mapping.written(key)
        return written if written is not None else label_value(value)

    def template(self, mapping: YamlMap, key: str, text: str) -> Template | None:
        try:
            return parse_template(text)
        except TemplateError as exc:
            mark = mapping.value_mark(key)  # exc.column counts from 1, as mark.column does
            self.add(Mark(mark.file, mark.line, mark.column + exc.column - 1), f"{key}: template: {exc}")
            return None


def _interval(value: Any) -> float:
    seconds = parse_duration(value)
    if seconds < MIN_INTERVAL:
        raise ValueError(
            f"{value!r} is shorter than {format_duration(MIN_INTERVAL)}, the shortest evaluation interval "
            "(the alert thread would evaluate without pause)"
        )
    return seconds


def _conditions(problems: RuleReader, mapping: YamlMap, key: str) -> list[Predicate] | None:
    """``where:`` or ``errors_where:``: one condition or a list of them, as under ``logs:``; None when wrong.

    One condition is stored back as a one-item list, so everything that reads the
    texts later (the fields a rule reads, its source, an SLO's fields) sees one shape.
    """
    raw = mapping[key]
    if isinstance(raw, str):
        items = new_list(mapping.value_mark(key))
        items.append(raw)
        items.item_marks.append(mapping.value_mark(key))
        mapping[key] = items
    elif isinstance(raw, YamlList):
        items = raw
    else:
        problems.add(mapping.value_mark(key), f"{key} must be a condition or a list of conditions")
        return None
    predicates = [p for i in range(len(items)) if (p := _predicate(problems, items, i, key))]
    return predicates if len(predicates) == len(items) else None


def _predicate(problems: RuleReader, items: YamlList, index: int, where: str) -> Predicate | None:
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


def read_rule(
    rule_map: YamlMap, group: str, interval: float, config: RuleDefaults, problems: RuleReader
) -> Rule | None:
    before = len(problems)
    selectors = SPANS_KEYS | LOGS_KEYS
    problems.unknown_keys(rule_map, RULE_KEYS | selectors, "a rule")
    for key in sorted(selectors.intersection(rule_map) - RULE_KEYS):  # a selector written one level up
        under = [section for section, keys in (("spans", SPANS_KEYS), ("logs", LOGS_KEYS)) if key in keys]
        problems.add(
            rule_map.key_mark(key),
            f"{key!r} is not a key of a rule: it goes under {' or '.join(f'{u}:' for u in under)}, "
            f"e.g. {under[0]}: {{{key}: …}}",
        )
    name = rule_map.get("alert")
    if not isinstance(name, str) or not LABEL_NAME.fullmatch(name):
        problems.add(
            rule_map.value_mark("alert") if "alert" in rule_map else rule_map.mark,
            "rule needs 'alert:' with a valid name",
        )
        name = "?"
    matcher = read_matcher(rule_map, problems)
    logs = _load_logs(rule_map, problems)
    condition = None
    if "expr" not in rule_map:
        problems.add(rule_map.mark, f"{name}: rule needs 'expr:'")
    elif not isinstance(rule_map["expr"], str):  # `expr:` left empty read as the text 'None'
        problems.add(rule_map.value_mark("expr"), "expr must be text, e.g. error_ratio > 5% or absent")
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
            _check_group_by_labels(raw, problems)
            if condition is not None and condition.aggregate == "absent" and group_by:
                problems.add(
                    rule_map.key_mark("group_by"),
                    "group_by cannot be used with absent: a missing group produces no spans to group by",
                )
    errors_where = None
    if "errors_where" in rule_map:
        compiled = _conditions(problems, rule_map, "errors_where")
        errors_where = all_of(tuple(compiled)) if compiled else None
    labels = problems.string_map(rule_map, "labels")
    label_map = rule_map.get("labels")
    for label, text in labels.items():
        if ("{{" in text or "}}" in text) and isinstance(label_map, YamlMap):
            # Prometheus expands them at each evaluation (a new alert whenever the value changes);
            # sent as written they would be a literal "{{ $value }}" label on every alert.
            problems.add(
                label_map.value_mark(label),
                f"labels: {label!r} is a template; rule labels are fixed here (their values say "
                "which alert it is): put templated text in an annotation",
            )
    annotations: dict[str, Template] = {}
    annotation_map = problems.mapping(rule_map, "annotations")
    for key in annotation_map or {}:
        assert annotation_map is not None
        if not LABEL_NAME.fullmatch(key):
            problems.add(annotation_map.key_mark(key), _annotation_name_problem(key))
        value = problems.text(annotation_map, key, "annotations")
        template = problems.template(annotation_map, key, value) if value is not None else None
        if template is not None:
            annotations[key] = template
    for_ = problems.duration(rule_map, "for", 0.0, allow_zero=True)
    keep = problems.duration(rule_map, "keep_firing_for", 0.0, allow_zero=True)
    if "logs" in rule_map:
        _check_log_rule(rule_map, condition, problems)
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
        source=yaml.safe_dump(plain(rule_map), sort_keys=True),
        window_source=yaml.safe_dump(
            {k: v for k, v in plain(rule_map).items() if k not in NOT_IN_WINDOWS}, sort_keys=True
        ),
        location=f"{mark.file}:{mark.line}",
        max_group_keys=config.max_group_keys,
        interval=interval,
        logs=logs,
    )


def _check_group_by_labels(group_by: YamlList, problems: RuleReader) -> None:
    """Two attributes that become one label name (``http.route``, ``http_route``) would give
    distinct group keys the same labels: Prometheus refuses such a rule at every evaluation
    ("vector contains metrics with the same labelset after applying alert labels")."""
    first: dict[str, str] = {}  # label name -> the attribute that took it
    for index, attribute in enumerate(group_by):
        label = label_name(attribute)
        if first.setdefault(label, attribute) == attribute:
            continue  # the first, or the same attribute again: its values are always the same
        problems.add(
            group_by.item_mark(index),
            f"group_by: {attribute!r} and {first[label]!r} both become the label {label!r}, so "
            "their alerts would carry the same labels; group by one of them",
        )


def _annotation_name_problem(name: str) -> str:
    """promtool's words, and why: Alertmanager answers 400 to a whole batch (``invalid
    annotations: invalid name``) for one alert with such an annotation, so none of the
    batch's alerts reach it."""
    fixed = re.sub(r"[^A-Za-z0-9_]", "_", name)
    fixed = f"_{fixed}" if fixed[:1].isdigit() else fixed
    return (
        f"annotations: invalid annotation name: {name!r} (Alertmanager refuses it: letters, digits "
        f"and '_', not starting with a digit" + (f"; e.g. {fixed!r})" if fixed else ")")
    )


def _load_logs(rule_map: YamlMap, problems: RuleReader) -> LogMatcher | None:
    """The ``logs:`` selector of a rule over log records (otelbundle.alerting.log_selector)."""
    logs = problems.mapping(rule_map, "logs")
    return read_log_matcher(logs, problems) if logs is not None else None


def _check_log_rule(rule_map: YamlMap, condition: Condition | None, problems: RuleReader) -> None:
    """A rule selects spans or log records, and records have neither status nor duration."""
    if "spans" in rule_map:
        problems.add(rule_map.key_mark("logs"), "a rule selects spans: or logs:, not both")
    if "errors_where" in rule_map:
        problems.add(
            rule_map.key_mark("errors_where"), "errors_where: is for spans; a log rule counts records"
        )
    if condition is not None and condition.aggregate.value not in LOG_AGGREGATES:
        problems.add(
            rule_map.value_mark("expr"),
            f"expr: a log rule takes {', '.join(LOG_AGGREGATES)} (records have no status or duration), "
            f"not {condition.aggregate.value}",
        )


def read_matcher(rule_map: YamlMap, problems: RuleReader) -> SpanMatcher | None:
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
        hazard = backtracking_hazard(str(spans["name_regex"]))
        try:
            name_regex = compile_user_regex(str(spans["name_regex"]))
        except re.error as exc:
            problems.add(spans.value_mark("name_regex"), f"name_regex: {exc}")
        else:
            if hazard is not None:
                problems.add(spans.value_mark("name_regex"), f"name_regex: {hazard[1]}; {BACKTRACKING_HINT}")
                name_regex = None
    where = (_conditions(problems, spans, "where") or []) if "where" in spans else []
    not_text = [key for key in ("service", "name") if key in spans and not isinstance(spans[key], str)]
    for key in not_text:  # each said, not only the first
        problems.add(spans.value_mark(key), f"{key} must be a string")
    if not_text:
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


def plain(value: Any) -> Any:
    """A parsed mapping as plain dicts and lists: the YAML a rule's (or SLO's) ``source`` is."""
    if isinstance(value, dict):
        return {str(k): plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [plain(v) for v in value]
    return value
