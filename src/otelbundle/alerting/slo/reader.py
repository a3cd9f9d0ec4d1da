"""One entry of a rule file's ``slos:`` list, read with every problem located (file:line:column).

    slos:
      - name: checkout-availability
        spans: {service: storefront, kind: server, name: "POST /checkout"}
        objective: 99.5%
        period: 30d                      # default 30d; at least 3d (the longest alert window)
        good_if_faster_than: 800ms       # optional: a slower span is bad too
        alert: CheckoutBudgetBurn        # optional; default CheckoutAvailabilityBudgetBurn
        labels: {team: shop}             # added to every alert of this SLO

The ``spans:`` selector is the rules' own, read by the rule file reader and
handed in; the rule file reader also owns the ``slos:`` key itself.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Protocol, TypeVar

import yaml

from otelbundle.alerting.predicates import referenced_fields
from otelbundle.alerting.rule_reader import LABEL_NAME, plain
from otelbundle.alerting.rules import SpanMatcher
from otelbundle.alerting.slo.model import (
    DAY,
    GENERATED_LABELS,
    LONGEST_WINDOW,
    SLO_NAME,
    SLO_NOT_IN_WINDOWS,
    Slo,
    prom_duration,
)
from otelbundle.config import Mark, YamlList, YamlMap, parse_percent

SLO_KEYS = frozenset({"name", "spans", "objective", "period", "good_if_faster_than", "alert", "labels"})
DEFAULT_PERIOD = 30 * DAY
T = TypeVar("T")


class SloProblems(Protocol):
    """What the reader needs of the rule file reader's problem list (RuleReader)."""

    def __len__(self) -> int: ...
    def add(self, mark: Mark, message: str) -> None: ...
    def unknown_keys(self, mapping: YamlMap, allowed: frozenset[str], where: str) -> None: ...
    def value(self, mapping: YamlMap, key: str, parse: Callable[[Any], T], default: T) -> T: ...
    def duration(self, mapping: YamlMap, key: str, default: float) -> float: ...
    def string_map(self, parent: YamlMap, key: str) -> dict[str, str]: ...


def read_slo(slo_map: YamlMap, matcher: SpanMatcher | None, problems: SloProblems) -> Slo | None:
    """The SLO of one ``slos:`` item; None (with problems added) when any part is wrong."""
    before = len(problems)
    problems.unknown_keys(slo_map, SLO_KEYS, "an SLO")
    name = slo_map.get("name")
    if not isinstance(name, str) or not SLO_NAME.match(name):
        problems.add(
            slo_map.value_mark("name") if "name" in slo_map else slo_map.mark,
            "an SLO needs 'name:' (letters, digits, '-', '_', '.'), e.g. checkout-availability",
        )
        name = "?"
    if "spans" not in slo_map:
        problems.add(slo_map.mark, f"SLO {name}: needs 'spans:', the spans it is about (as in a rule)")
    objective = _objective(slo_map, problems)
    period = problems.duration(slo_map, "period", DEFAULT_PERIOD)
    if period < LONGEST_WINDOW:
        problems.add(
            slo_map.value_mark("period"),
            f"period must be at least {prom_duration(LONGEST_WINDOW)}, the longest burn-rate window",
        )
    faster_than = None
    if "good_if_faster_than" in slo_map:
        faster_than = problems.duration(slo_map, "good_if_faster_than", 0.0) or None
    alert = slo_map.get("alert", "")
    if not isinstance(alert, str) or (alert and not LABEL_NAME.fullmatch(alert)):
        problems.add(slo_map.value_mark("alert"), "alert must be a valid alert name, e.g. CheckoutBudgetBurn")
        alert = ""
    labels = problems.string_map(slo_map, "labels")
    label_map = slo_map.get("labels")
    for label in GENERATED_LABELS:
        if label in labels and isinstance(label_map, YamlMap):
            problems.add(label_map.key_mark(label), f"labels: {label!r} is set by the SLO's burn-rate alerts")
    if len(problems) > before or matcher is None or objective is None:
        return None
    mark = slo_map.mark
    return Slo(
        name=name,
        matcher=matcher,
        objective=objective,
        period=period,
        good_if_faster_than=faster_than,
        alert=alert,
        labels=labels,
        fields=_where_fields(slo_map),
        source=yaml.safe_dump(plain(slo_map), sort_keys=True),
        location=f"{mark.file}:{mark.line}",
        window_source=yaml.safe_dump(
            {k: v for k, v in plain(slo_map).items() if k not in SLO_NOT_IN_WINDOWS}, sort_keys=True
        ),
    )


def _objective(slo_map: YamlMap, problems: SloProblems) -> float | None:
    if "objective" not in slo_map:
        problems.add(slo_map.mark, "an SLO needs 'objective:', e.g. 99.5%")
        return None
    raw = slo_map["objective"]
    percent = problems.value(slo_map, "objective", parse_percent, -1.0)
    if percent < 0:
        return None
    if not 0 < percent < 100:
        problems.add(slo_map.value_mark("objective"), f"objective {raw!r} must be above 0% and below 100%")
        return None
    bare = not str(raw).strip().endswith("%")
    if bare and percent == 1:
        problems.add(
            slo_map.value_mark("objective"),
            f"objective {raw!r} is ambiguous: as a ratio it is 100% (no error budget), as a percentage "
            "1%; a bare number is read as a percentage, so write it with %, e.g. 99.9%",
        )
        return None
    if bare and percent < 1:
        problems.add(
            slo_map.value_mark("objective"),
            f"objective {raw!r} reads as {raw}% (a bare number is a percentage); "
            f"write the percentage, e.g. {percent * 100:g}%",
        )
        return None
    objective = round(percent / 100.0, 12)
    if objective >= 1.0:  # the budget, 1 - objective, would be 0: every bad span an infinite burn rate
        problems.add(
            slo_map.value_mark("objective"),
            f"objective {raw!r} leaves no error budget (1 - objective rounds to 0); at most 99.9999999999%",
        )
        return None
    return objective


def _where_fields(slo_map: YamlMap) -> frozenset[str]:
    spans = slo_map.get("spans")
    where = spans.get("where") if isinstance(spans, YamlMap) else None
    if not isinstance(where, YamlList):
        return frozenset()
    return frozenset().union(*(referenced_fields(str(text)) for text in where))
