"""The in-process rules an SLO becomes: one per row of the burn-rate table, run by the engine as is.

Each is an ordinary :class:`~otelbundle.alerting.rules.Rule` whose condition
reads two windows, as the Prometheus rule ``long > k and short > k`` does: its
value is the long window's burn rate where the short window's also exceeds
``k``, and no value (NaN: the condition does not hold) otherwise. So the
engine's state machine, ``for``, resends and notifications apply unchanged.
The rows share the SLO's alert name and tell themselves apart by labels
(``severity``, ``long_window``, ``short_window``, ``burn_rate``); each is in a
rule group of its own, ``slo:NAME:page-1h``, as the engine keys rules by
(group, alert name).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from functools import partial

from otelbundle.alerting.go_format import humanize_percentage
from otelbundle.alerting.rules import Aggregate, Condition, Rule
from otelbundle.alerting.slo.model import BurnTier, Slo, format_number, prom_duration
from otelbundle.alerting.slo.windows import BurnRateWindow, BurnTotals
from otelbundle.alerting.templates import Context, Template, parse_template
from otelbundle.alerting.window import RuleWindow, Totals

# An SLO's rule groups are named slo:<name>:<tier>.
SLO_GROUP_PREFIX = "slo:"


class BudgetReading:
    """The remaining error budget at the last evaluation, for the alert's annotation.

    Written by the condition when the engine evaluates the rule, read when the
    alert is rendered right after (the engine renders an alert only after
    evaluating its rule at the same time).
    """

    __slots__ = ("remaining",)

    def __init__(self) -> None:
        self.remaining = math.nan


@dataclass(frozen=True)
class BurnRateCondition(Condition):
    """``burn(long) > threshold and burn(short) > threshold``; the value is burn(long)."""

    budget: float = 1.0
    reading: BudgetReading = field(default_factory=BudgetReading, compare=False, hash=False)

    def value(self, totals: Totals, window: RuleWindow) -> float:
        if not isinstance(totals, BurnTotals):
            return math.nan
        self.reading.remaining = totals.remaining_budget(self.budget)
        long_burn = _burn(totals.long_errors, totals.long_count, self.budget)
        short_burn = _burn(totals.short_errors, totals.short_count, self.budget)
        return long_burn if short_burn > self.threshold else math.nan


def _burn(errors: int, count: int, budget: float) -> float:
    return (errors / count) / budget if count else math.nan


@dataclass(frozen=True)
class BudgetTemplate(Template):
    """The ``error_budget_remaining`` annotation: ``62.5%`` (``humanizePercentage``), empty when unknown."""

    reading: BudgetReading = field(default_factory=BudgetReading, compare=False, hash=False)

    def render(self, context: Context) -> str:
        remaining = self.reading.remaining
        return "" if math.isnan(remaining) else humanize_percentage(remaining)


def summary(slo: Slo, tier: BurnTier) -> str:
    """The summary annotation, the same text in both paths (Prometheus renders it too). The
    SLO's name is written in, not read from ``$labels.slo``: ``slo`` is a rule label, and
    ``$labels`` holds the series' labels only (as in Prometheus), so it would read empty here.
    SLO names are letters, digits, ``-``, ``_`` and ``.``: nothing a template would parse."""
    rate = format_number(tier.burn_rate(slo.period))
    windows = f"{prom_duration(tier.long_window)} and {prom_duration(tier.short_window)}"
    return (
        f"{slo.name}: error budget burning {{{{ $value | humanize }}}}x as fast as "
        f"the objective allows ({tier.severity} above {rate}x over {windows})"
    )


def description(slo: Slo, tier: BurnTier) -> str:
    objective = format_number(round(slo.objective * 100, 10))
    slow = ""
    if slo.good_if_faster_than is not None:
        slow = f" within {prom_duration(slo.good_if_faster_than)}"
    period = prom_duration(slo.period)
    return (
        f"Objective: {objective}% of spans succeed{slow} over {period}. "
        f"A burn rate above {format_number(tier.burn_rate(slo.period))}x spends "
        f"{format_number(round(tier.budget_share * 100, 10))}% of the {period} error budget "
        f"within {prom_duration(tier.long_window)}."
    )


def burn_rate_rules(slo: Slo, interval: float) -> list[Rule]:
    """One rule per row of the table, in its own group (see the module docstring)."""
    return [_tier_rule(slo, tier, interval) for tier in slo.tiers()]


def group_name(slo: Slo, tier: BurnTier) -> str:
    return f"{SLO_GROUP_PREFIX}{slo.name}:{tier.name}"


def _tier_rule(slo: Slo, tier: BurnTier, interval: float) -> Rule:
    reading = BudgetReading()
    rate = tier.burn_rate(slo.period)
    lengths = (tier.short_window, tier.long_window, slo.period)
    labels = slo.tier_labels(tier)
    return Rule(
        name=slo.alertname,
        group=group_name(slo, tier),
        matcher=slo.matcher,
        condition=BurnRateCondition(
            Aggregate.ERROR_RATIO, op=">", threshold=rate, budget=slo.budget, reading=reading
        ),
        window=tier.long_window,
        min_spans=1,
        group_by=(),
        for_=0.0,
        keep_firing_for=0.0,
        labels=labels,
        annotations={
            "summary": parse_template(summary(slo, tier)),
            "description": parse_template(description(slo, tier)),
            "error_budget_remaining": BudgetTemplate("", (), reading=reading),
        },
        errors_where=None,
        fields=slo.fields,
        source=f"{slo.source}\n# {tier.name}",
        location=slo.location,
        max_group_keys=1,
        interval=interval,
        bad_if_slower_than=slo.good_if_faster_than,
        make_window=partial(BurnRateWindow, *lengths),
        window_lengths=lengths,
        # Empty for an SLO without one (built in code): its windows go with any edit.
        window_source=f"{slo.window_source}# {tier.name} {lengths}" if slo.window_source else "",
    )
