"""The rule model: which spans count, what is computed over the window, when it alerts."""

from __future__ import annotations

import fnmatch
import math
import operator
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from enum import Enum

from otelbundle.alerting.log_selector import LogMatcher
from otelbundle.alerting.predicates import REGEX_READS, Predicate, SpanView
from otelbundle.alerting.templates import Template
from otelbundle.alerting.window import RuleWindow, Totals

OPERATORS: dict[str, Callable[[float, float], bool]] = {
    ">": operator.gt,
    ">=": operator.ge,
    "<": operator.lt,
    "<=": operator.le,
    "==": operator.eq,
    "!=": operator.ne,
}


LOG_AGGREGATES = ("count", "rate", "absent")
"""What a rule over log records can compute: records have no status or duration."""


class Aggregate(str, Enum):
    """What a condition computes over a window (a str, so it compares equal to its name)."""

    COUNT = "count"
    RATE = "rate"
    ERROR_COUNT = "error_count"
    ERROR_RATIO = "error_ratio"
    AVG_DURATION = "avg_duration"
    MAX_DURATION = "max_duration"
    QUANTILE = "quantile"
    ABSENT = "absent"


SIMPLE_AGGREGATES = tuple(a.value for a in Aggregate if a not in (Aggregate.QUANTILE, Aggregate.ABSENT))


def _ratio(part: float, whole: int) -> float:
    return part / whole if whole else math.nan


# aggregate -> (value over a window, which spans make the best exemplars)
_AGGREGATES: dict[Aggregate, tuple[Callable[[Condition, Totals, RuleWindow], float], str]] = {
    Aggregate.COUNT: (lambda c, t, w: float(t.count), "newest"),
    Aggregate.RATE: (lambda c, t, w: t.count / w.size, "newest"),
    Aggregate.ERROR_COUNT: (lambda c, t, w: float(t.errors), "errors"),
    Aggregate.ERROR_RATIO: (lambda c, t, w: _ratio(t.errors, t.count), "errors"),
    Aggregate.AVG_DURATION: (lambda c, t, w: _ratio(t.total_duration, t.count), "slowest"),
    Aggregate.MAX_DURATION: (lambda c, t, w: t.longest if t.count else math.nan, "slowest"),
    Aggregate.QUANTILE: (lambda c, t, w: t.quantile(c.quantile), "slowest"),
    Aggregate.ABSENT: (lambda c, t, w: 1.0 if t.count == 0 else 0.0, "newest"),
}
_EXPR = re.compile(
    r"^\s*(?:(?P<absent>absent)|(?P<agg>[a-z_]+|p\d{1,3}(?:\.\d+)?|quantile\(\s*[0-9.]+\s*\))\s*"
    r"(?P<op>>=|<=|==|!=|>|<)\s*(?P<threshold>\S+))\s*$"
)


class ExprError(ValueError):
    pass


@dataclass(frozen=True)
class Condition:
    """``aggregate op threshold`` (or ``absent``) over a window."""

    aggregate: Aggregate
    quantile: float = math.nan
    op: str = ">"
    threshold: float = 0.0

    @property
    def kind(self) -> str:
        """Which spans make the best exemplars for this condition."""
        return _AGGREGATES[self.aggregate][1]

    def value(self, totals: Totals, window: RuleWindow) -> float:
        return _AGGREGATES[self.aggregate][0](self, totals, window)

    def holds(self, value: float) -> bool:
        if self.aggregate is Aggregate.ABSENT:
            return value == 1.0
        return not math.isnan(value) and OPERATORS[self.op](value, self.threshold)


def parse_expr(text: str, parse_threshold: Callable[[str], float]) -> Condition:
    match = _EXPR.match(text)
    if match is None:
        raise ExprError(
            f"cannot parse expr {text!r}: expected AGGREGATE OP NUMBER (e.g. error_ratio > 5%, p95 > 250ms) or absent"
        )
    if match.group("absent"):
        return Condition(Aggregate.ABSENT)
    name, op, threshold_text = match.group("agg"), match.group("op"), match.group("threshold")
    quantile = math.nan
    if name.startswith("quantile("):
        quantile = float(name[len("quantile(") : -1])
        aggregate = Aggregate.QUANTILE
    elif re.fullmatch(r"p\d{1,3}(?:\.\d+)?", name):
        quantile = float(name[1:]) / 100.0
        aggregate = Aggregate.QUANTILE
    elif name in SIMPLE_AGGREGATES:
        aggregate = Aggregate(name)
    else:
        known = ", ".join([*SIMPLE_AGGREGATES, "pNN", "quantile(q)", "absent"])
        raise ExprError(f"unknown aggregate {name!r}; known: {known}")
    if aggregate is Aggregate.QUANTILE and not 0 < quantile <= 1:
        raise ExprError(f"quantile must be in (0, 1], got {quantile:g}")
    try:
        threshold = parse_threshold(threshold_text)
    except ValueError as exc:
        raise ExprError(f"bad threshold {threshold_text!r}: {exc}") from None
    return Condition(aggregate, quantile, op, threshold)


@dataclass(frozen=True)
class SpanMatcher:
    """Every set line must hold: service (glob), kind, name or name_regex, each where: predicate."""

    service: str | None = None
    kind: str | None = None
    name: str | None = None
    name_regex: re.Pattern[str] | None = None
    where: tuple[Predicate, ...] = ()

    @property
    def service_is_exact(self) -> bool:
        return self.service is not None and not any(c in self.service for c in "*?[")

    def matches(self, span: SpanView) -> bool:
        return self.matches_static(span) and all(predicate(span) for predicate in self.where)

    def matches_static(self, span: SpanView) -> bool:
        """Everything but where: — depends only on service, kind and name, so it can be cached."""
        if self.service is not None:
            service = str(span.resource.get("service.name", ""))
            if service != self.service and not fnmatch.fnmatchcase(service, self.service):
                return False
        if self.kind is not None and span.kind != self.kind:
            return False
        if self.name is not None and span.name != self.name:
            return False
        return self.name_regex is None or self.name_regex.search(span.name[:REGEX_READS]) is not None


def label_name(attribute: str) -> str:
    """Attribute names become Prometheus label names: http.route -> http_route."""
    return re.sub(r"[^A-Za-z0-9_]", "_", attribute)


@dataclass
class Rule:
    name: str
    group: str
    matcher: SpanMatcher
    condition: Condition
    window: float
    min_spans: int
    group_by: tuple[str, ...]
    for_: float
    keep_firing_for: float
    labels: Mapping[str, str]
    annotations: Mapping[str, Template]
    errors_where: Predicate | None
    fields: frozenset[str]  # span fields read by where:, errors_where: and group_by
    source: str  # the rule's YAML, for keeping state across reloads of unchanged rules
    location: str = ""
    max_group_keys: int = 1000
    interval: float = 1.0
    extra: dict[str, object] = field(default_factory=dict)
    # A span slower than this (seconds) is bad too: an SLO's good_if_faster_than. Kept apart
    # from errors_where so that spans need not be decided one by one (see batch.py).
    bad_if_slower_than: float | None = None
    # The rule's window when it is not a plain Window of ``window`` seconds (an SLO's burn rates),
    # and the lengths of what it builds (an SLO's short and long windows and its period).
    make_window: Callable[[], RuleWindow] | None = None
    window_lengths: tuple[float, ...] = ()
    # A rule over log records (``logs:``) instead of spans: the span path passes it over.
    logs: LogMatcher | None = None
    # The source without NOT_IN_WINDOWS (an SLO tier's: without SLO_NOT_IN_WINDOWS, with its
    # window lengths): rules with equal ones fill their windows alike.
    # Empty (rules built in code): windows are kept only for an unchanged source.
    window_source: str = ""

    @property
    def lengths(self) -> tuple[float, ...]:
        """The lengths of the windows the rule keeps (seconds)."""
        return self.window_lengths or (self.window,)

    def key_labels(self, key: tuple[str, ...]) -> dict[str, str]:
        if key == OVERFLOW_KEY:
            return {"otel_overflow": "true"}
        return {label_name(attribute): value for attribute, value in zip(self.group_by, key, strict=False)}


OVERFLOW_KEY: tuple[str, ...] = ("\x00overflow",)

# A rule's keys that decide what is done with its windows, not which spans enter them
# or what is kept of them: editing only these keeps the windows across a reload.
NOT_IN_WINDOWS = frozenset({"alert", "annotations", "expr", "for", "keep_firing_for", "labels", "min_spans"})


def same_windows(old: Rule, new: Rule) -> bool:
    """Whether ``new`` can take over ``old``'s windows: the same spans enter them, kept the same
    way (quantile bins, which exemplars) over the same lengths; ``expr`` may differ within that,
    as an SLO's objective may (its burn-rate thresholds: the windows only count spans)."""
    if not old.window_source or old.window_source != new.window_source:
        return False
    if (old.make_window is None) != (new.make_window is None) or old.lengths != new.lengths:
        return False
    old_c, new_c = old.condition, new.condition
    return old_c.kind == new_c.kind and (old_c.aggregate is Aggregate.QUANTILE) == (
        new_c.aggregate is Aggregate.QUANTILE
    )
