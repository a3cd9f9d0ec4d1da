"""``promtool test rules`` tests for the generated Prometheus rules of each SLO.

Each test writes span-metric series as the connector does (cumulative counts,
here one sample a minute, every series from 0 at time 0) for a traffic shape,
and expects the alerts the burn-rate table says, worked out here from exact
counts. promtool then evaluates the generated PromQL on those series, so a
rule that selects, divides or compares wrongly fails. The shapes:

1. a burst from the start (bad share ``F``: 20x the budget, capped at 100 %):
   every row whose burn rate is below 20 fires at once, with the budget annotation;
2. bad spans at half the budget for three hours: nothing fires;
3. a healthy hour, an hour of the burst, a healthy hour: the 1h page waits
   until 2 % of the budget is spent (not at half that time, yes at 1.3x), and
   stops once the 5m window is clean while slower rows keep firing;
4. with ``good_if_faster_than``: slow but successful spans alone page too.

Evaluation times where a burn rate is within 5 % of a threshold are moved, so
the expectations never hinge on rounding.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from otelbundle.alerting.go_format import humanize_percentage
from otelbundle.alerting.slo.burn import description, summary
from otelbundle.alerting.slo.model import Slo, format_number, prom_duration
from otelbundle.alerting.slo.prometheus import (
    BUDGET_METRIC,
    CALLS,
    DURATION,
    ERROR,
    SPAN_KINDS,
    Untranslatable,
    quote,
)
from otelbundle.alerting.templates import Context, parse_template

PER_MINUTE = 1000.0  # spans a minute: round counts down to 99.99 % objectives
BURST_BURN = 20.0
MARGIN = 0.05


@dataclass(frozen=True)
class Phase:
    """``minutes`` of traffic, per minute: good spans, slow but successful ones, errors."""

    minutes: int
    good: float
    slow: float = 0.0
    errors: float = 0.0


class Traffic:
    """Cumulative counts per minute of a list of phases, and the ratios the rules compute from them."""

    def __init__(self, phases: Sequence[Phase]) -> None:
        self.phases = list(phases)
        self.increments = [p for p in phases for _ in range(p.minutes)]

    def _cumulative(self, minute: float, field: str) -> float:
        return float(sum(getattr(p, field) for p in self.increments[: int(minute)]))

    def bad_share(self, now: float, window: float, slow_is_bad: bool) -> float:
        """The bad share over ``window`` minutes at minute ``now`` (NaN without spans)."""
        start = max(0.0, now - window)
        counts = {
            f: self._cumulative(now, f) - self._cumulative(start, f) for f in ("good", "slow", "errors")
        }
        total = sum(counts.values())
        bad = counts["errors"] + (counts["slow"] if slow_is_bad else 0.0)
        return bad / total if total else math.nan


def _labels(slo: Slo) -> dict[str, str]:
    """Concrete labels of series the SLO selects (a service glob gets a name it matches)."""
    matcher = slo.matcher
    if matcher.name_regex is not None:
        raise Untranslatable("no test generated: a span name matching name_regex cannot be made up")
    labels = {}
    if matcher.service is not None:
        labels["service_name"] = matcher.service.replace("*", "x").replace("?", "x")
    labels["span_kind"] = SPAN_KINDS[matcher.kind or "server"]
    labels["span_name"] = matcher.name if matcher.name is not None else "operation"
    return labels


def _values(increments: Sequence[float]) -> str:
    """promtool's expanding notation for a counter: ``0 800+800x59 48000x59``."""
    out, total, index = ["0"], 0.0, 0
    while index < len(increments):
        step, run = increments[index], 1
        while index + run < len(increments) and increments[index + run] == step:
            run += 1
        first = total + step
        out.append(
            f"{format_number(first)}+{format_number(step)}x{run - 1}"
            if step
            else f"{format_number(total)}x{run - 1}"
        )
        total += step * run
        index += run
    return " ".join(out)


def _series(slo: Slo, traffic: Traffic, bound: str | None) -> list[dict[str, str]]:
    base = _labels(slo)

    def name(metric: str, **extra: str) -> str:
        labels = {**base, **extra}
        return metric + "{" + ", ".join(f"{k}={quote(v)}" for k, v in labels.items()) + "}"

    ok = [p.good + p.slow for p in traffic.increments]
    errors = [p.errors for p in traffic.increments]
    if bound is None:
        return [
            {"series": name(CALLS, status_code="STATUS_CODE_UNSET"), "values": _values(ok)},
            {"series": name(CALLS, status_code=ERROR), "values": _values(errors)},
        ]
    fast_ok = [p.good for p in traffic.increments]
    return [
        {"series": name(f"{DURATION}_count", status_code="STATUS_CODE_UNSET"), "values": _values(ok)},
        {
            "series": name(f"{DURATION}_bucket", status_code="STATUS_CODE_UNSET", le=bound),
            "values": _values(fast_ok),
        },
        {"series": name(f"{DURATION}_count", status_code=ERROR), "values": _values(errors)},
        {"series": name(f"{DURATION}_bucket", status_code=ERROR, le=bound), "values": _values(errors)},
    ]


def _expected(
    slo: Slo, traffic: Traffic, minute: float, extra_labels: Mapping[str, str]
) -> list[dict[str, Any]] | None:
    """The firing alerts at ``minute``; None when a burn rate is too close to a threshold to tell."""
    slow_is_bad = slo.good_if_faster_than is not None
    alerts = []
    period_share = traffic.bad_share(minute, slo.period / 60, slow_is_bad)
    for tier in slo.tiers():
        rate = tier.burn_rate(slo.period)
        burns = [
            traffic.bad_share(minute, w / 60, slow_is_bad) / slo.budget
            for w in (tier.long_window, tier.short_window)
        ]
        if any(not math.isnan(b) and abs(b - rate) < MARGIN * rate for b in burns):
            return None
        if not all(b > rate for b in burns):
            continue
        labels = {**slo.tier_labels(tier), **extra_labels}
        context = Context(labels, burns[0], {}, "")
        alerts.append(
            {
                "exp_labels": labels,
                "exp_annotations": {
                    "summary": parse_template(summary(slo, tier)).render(context),
                    "description": description(slo, tier),
                    "error_budget_remaining": humanize_percentage(1 - period_share / slo.budget),
                },
            }
        )
    return alerts


def _checks(
    slo: Slo, traffic: Traffic, minutes: Sequence[float], extra_labels: Mapping[str, str]
) -> list[dict[str, Any]]:
    """An alert_rule_test per wanted minute, moved by up to 5 minutes off a threshold (or left out)."""
    checks = []
    for wanted in minutes:
        for minute in sorted(range(int(wanted) - 5, int(wanted) + 6), key=lambda m: abs(m - wanted)):
            expected = _expected(slo, traffic, minute, extra_labels) if minute > 0 else None
            if expected is not None:
                checks.append({"eval_time": f"{minute}m", "alertname": slo.alertname, "exp_alerts": expected})
                break
    return checks


def _split(bad: float, latency: bool) -> tuple[float, float]:
    """(slow, errors) for ``bad`` bad spans a minute: half each when slowness counts."""
    return (bad / 2, bad / 2) if latency else (0.0, bad)


Scenario = tuple[str, list[Phase], list[float]]
"""A traffic shape: its name, its phases, the minutes to check (before moving off thresholds)."""


def scenarios(slo: Slo, latency: bool) -> list[Scenario]:
    """The traffic shapes of the module docstring, for ``slo`` (also run in process by the tests)."""
    share = min(1.0, BURST_BURN * slo.budget)
    burst_slow, burst_errors = _split(PER_MINUTE * share, latency)
    burst = Phase(1, PER_MINUTE * (1 - share), burst_slow, burst_errors)
    on_budget_slow, on_budget_errors = _split(PER_MINUTE * slo.budget / 2, latency)
    shapes: list[Scenario] = [
        (
            f"a burst of {share * 100:.4g}% bad spans from the start",
            [Phase(30, burst.good, burst.slow, burst.errors)],
            [5],
        ),
        (
            "bad spans at half the budget for three hours: no alert",
            [Phase(180, PER_MINUTE * (1 - slo.budget / 2), on_budget_slow, on_budget_errors)],
            [10, 60, 180],
        ),
    ]
    first = slo.tiers()[0]
    burn = share / slo.budget
    fires_after = (
        first.long_window / 60 * first.burn_rate(slo.period) / burn
    )  # minutes of burst, after a clean hour
    if burn > first.burn_rate(slo.period) and fires_after * 1.3 < 60:
        shapes.append(
            (
                f"a healthy hour, then the burst: the {first.name} alert waits for "
                f"{format_number(first.budget_share * 100)}% of the budget and stops once the "
                f"{prom_duration(first.short_window)} window is clean",
                [
                    Phase(60, PER_MINUTE),
                    Phase(60, burst.good, burst.slow, burst.errors),
                    Phase(60, PER_MINUTE),
                ],
                # the last: the short window has just gone clean, the long one still holds the burst
                [
                    60 + math.ceil(fires_after * 0.5),
                    60 + math.ceil(fires_after * 1.3),
                    121 + first.short_window / 60,
                ],
            )
        )
    if latency:
        shapes.append(
            (
                "slow but successful spans alone burn the budget",
                [Phase(30, burst.good, PER_MINUTE * share)],
                [5],
            )
        )
    return shapes


def slo_tests(
    slo: Slo, bound: str | None, extra_labels: Mapping[str, str] | None = None
) -> list[dict[str, Any]]:
    """The tests of one SLO (see the module docstring); Untranslatable when none can be made."""
    latency = bound is not None
    tests = []
    for name, phases, minutes in scenarios(slo, latency):
        traffic = Traffic(phases)
        checks = _checks(slo, traffic, minutes, extra_labels or {})
        test: dict[str, Any] = {
            "name": f"{slo.name}: {name}",
            "interval": "1m",
            "input_series": _series(slo, traffic, bound),
            "alert_rule_test": checks,
        }
        if name.startswith("a burst") and checks:
            share_now = traffic.bad_share(5, slo.period / 60, latency)
            # In basis points: promtool compares sample values exactly.
            test["promql_expr_test"] = [
                {
                    "expr": f"round({BUDGET_METRIC}{{slo={quote(slo.name)}}} * 10000)",
                    "eval_time": "5m",
                    "exp_samples": [
                        {
                            "labels": f"{{slo={quote(slo.name)}}}",
                            "value": round((1 - share_now / slo.budget) * 10000),
                        }
                    ],
                }
            ]
        tests.append(test)
    return tests
