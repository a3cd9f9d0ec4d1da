"""An SLO's burn-rate alerts as Prometheus recording and alerting rules on span metrics.

The collector's span_metrics connector (otel-collector/config.yaml) writes, by
remote write, ``traces_span_metrics_calls_total`` and the histogram
``traces_span_metrics_duration_milliseconds_{bucket,count,sum}``, labelled
``service_name``, ``span_name``, ``span_kind`` (``SPAN_KIND_SERVER``...) and
``status_code`` (``STATUS_CODE_ERROR``...). Per SLO, one rule group:

* ``slo:sli_error:ratio_rate<W>{slo=NAME}``: the bad share of spans over each
  window W the alerts use, and over the period;
* ``slo:error_budget_remaining:ratio{slo=NAME}``: ``1 - bad share over the period / budget``;
* one alert per row of the burn-rate table (otelbundle.alerting.slo.model),
  ``long / budget > k and short / budget > k``, with the same name, labels and
  annotations as the in-process alert (otelbundle.alerting.slo.burn).

``good_if_faster_than`` reads the histogram bucket whose ``le`` is the
threshold. When the threshold is not a bucket bound, the largest bound below
it is used (a span between the two counts as bad here, good in process: the
Prometheus path is the stricter one), and :class:`Generated` says so in its notes.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from otelbundle.alerting.re2 import re2_unsupported
from otelbundle.alerting.rules import SpanMatcher
from otelbundle.alerting.slo.burn import description, summary
from otelbundle.alerting.slo.model import Slo, format_number, prom_duration

CALLS = "traces_span_metrics_calls_total"
DURATION = "traces_span_metrics_duration_milliseconds"
ERROR = "STATUS_CODE_ERROR"
BUCKETS_MS = (2.0, 5.0, 10.0, 25.0, 50.0, 100.0, 250.0, 500.0, 1000.0, 2500.0, 5000.0, 10000.0)
"""The span_metrics histogram bounds of otel-collector/config.yaml, in ms (a unit test keeps them equal)."""
SPAN_KINDS = {k: f"SPAN_KIND_{k.upper()}" for k in ("server", "client", "internal", "producer", "consumer")}
BUDGET_METRIC = "slo:error_budget_remaining:ratio"


class Untranslatable(ValueError):
    """The SLO cannot be written on span metrics (its message says why)."""


def ratio_metric(window: float) -> str:
    return f"slo:sli_error:ratio_rate{prom_duration(window)}"


@dataclass
class Generated:
    """The rule file as data (``groups:``), and what a reader must know about it."""

    groups: list[dict[str, Any]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    bounds: dict[str, str] = field(default_factory=dict)  # SLO name -> the `le` it reads, when latency


def quote(value: str) -> str:
    """A PromQL string literal (JSON's escapes are Go's)."""
    return json.dumps(value, ensure_ascii=False)


def template_literal(value: str) -> str:
    """``value`` as a Go template that renders as itself: Prometheus expands alert label values as
    templates, ours are plain text (``{{`` in a label would not load, or would render differently)."""
    return value.replace("{{", '{{ "{{" }}')


def _glob_regex(pattern: str) -> str:
    """A service glob (shop-*) as an RE2 regex, which Prometheus anchors on both ends."""
    out = []
    for char in pattern:
        out.append(".*" if char == "*" else "." if char == "?" else re.escape(char))
    return "".join(out)


def series_matchers(matcher: SpanMatcher) -> list[str]:
    """The label matchers of the SLO's spans; Untranslatable for what span metrics do not carry."""
    if matcher.where:
        raise Untranslatable(
            "its spans: where: reads span attributes that span metrics do not carry; "
            "this SLO runs in process only"
        )
    found = []
    if matcher.service is not None:
        if matcher.service_is_exact:
            found.append(f"service_name={quote(matcher.service)}")
        elif "[" in matcher.service:
            raise Untranslatable("a service glob with [...] cannot be written as a Prometheus matcher")
        else:
            found.append(f"service_name=~{quote(_glob_regex(matcher.service))}")
    if matcher.kind is not None:
        found.append(f"span_kind={quote(SPAN_KINDS[matcher.kind])}")
    if matcher.name is not None:
        found.append(f"span_name={quote(matcher.name)}")
    if matcher.name_regex is not None:  # ours searches; Prometheus anchors
        unsupported = re2_unsupported(matcher.name_regex.pattern)
        if unsupported:
            raise Untranslatable(
                f"its spans: name_regex uses {unsupported}, which Prometheus' regular expressions "
                "(RE2) do not support; this SLO runs in process only"
            )
        found.append(f"span_name=~{quote('.*(?:' + matcher.name_regex.pattern + ').*')}")
    return found


def bucket_bound(seconds: float, bounds_ms: Sequence[float]) -> tuple[str, bool]:
    """(the ``le`` label value to read, whether it is the threshold exactly)."""
    wanted = seconds * 1000.0
    below = [b for b in bounds_ms if b <= wanted * (1 + 1e-9)]
    if not below:
        raise Untranslatable(
            f"good_if_faster_than {prom_duration(seconds)} is below the smallest span metrics bucket "
            f"({format_number(min(bounds_ms))}ms)"
        )
    bound = max(below)
    return format_number(bound), abs(bound - wanted) <= wanted * 1e-9


def _selector(parts: Sequence[str]) -> str:
    return "{" + ", ".join(parts) + "}"


def error_ratio_expr(slo: Slo, window: float, bound: str | None) -> str:
    """The bad share of the SLO's spans over ``window``, one value (no labels)."""
    labels = series_matchers(slo.matcher)
    w = prom_duration(window)
    if bound is None:
        bad = _selector([*labels, f"status_code={quote(ERROR)}"])
        every = _selector(labels)
        return f"(sum(rate({CALLS}{bad}[{w}])) or vector(0))\n/\nsum(rate({CALLS}{every}[{w}]))"
    good = _selector([*labels, f"status_code!={quote(ERROR)}", f"le={quote(bound)}"])
    every = _selector(labels)
    return (
        f"1 - (\n  (sum(rate({DURATION}_bucket{good}[{w}])) or vector(0))\n  /\n"
        f"  sum(rate({DURATION}_count{every}[{w}]))\n)"
    )


def slo_group(slo: Slo, bounds_ms: Sequence[float], generated: Generated) -> dict[str, Any]:
    """The rule group of one SLO; raises Untranslatable."""
    bound = None
    if slo.good_if_faster_than is not None:
        bound, exact = bucket_bound(slo.good_if_faster_than, bounds_ms)
        generated.bounds[slo.name] = bound
        if not exact:
            generated.notes.append(
                f"SLO {slo.name}: good_if_faster_than {prom_duration(slo.good_if_faster_than)} is not a "
                f"span metrics bucket bound; the Prometheus rules count spans up to {bound}ms as fast "
                f"(stricter than in process). Add {format_number(slo.good_if_faster_than * 1000)}ms to "
                "the span_metrics buckets in otel-collector/config.yaml to use the same threshold."
            )
    tiers = slo.tiers()
    windows = sorted({w for t in tiers for w in (t.short_window, t.long_window)} | {slo.period})
    own = {"slo": slo.name}
    selector = "{slo=" + quote(slo.name) + "}"
    budget = format_number(slo.budget)
    rules: list[dict[str, Any]] = [
        {"record": ratio_metric(w), "expr": error_ratio_expr(slo, w, bound), "labels": dict(own)}
        for w in windows
    ]
    rules.append(
        {
            "record": BUDGET_METRIC,
            "expr": f"1 - {ratio_metric(slo.period)}{selector} / {budget}",
            "labels": dict(own),
        }
    )
    remaining = (
        "{{ with query " + quote(BUDGET_METRIC + selector) + " }}"
        "{{ . | first | value | humanizePercentage }}{{ end }}"
    )
    for tier in tiers:
        rate = format_number(tier.burn_rate(slo.period))
        if tier.burn_rate(slo.period) * slo.budget >= 1:
            generated.notes.append(
                f"SLO {slo.name}: the {tier.name} alert needs more than 100 % bad spans "
                f"(burn rate {rate} x budget {budget}); it can never fire at objective "
                f"{format_number(round(slo.objective * 100, 10))}%"
            )
        rules.append(
            {
                "alert": slo.alertname,
                "expr": (
                    f"{ratio_metric(tier.long_window)}{selector} / {budget} > {rate}\nand\n"
                    f"{ratio_metric(tier.short_window)}{selector} / {budget} > {rate}"
                ),
                "labels": {k: template_literal(v) for k, v in slo.tier_labels(tier).items()},
                "annotations": {
                    "summary": summary(slo, tier),
                    "description": description(slo, tier),
                    "error_budget_remaining": remaining,
                },
            }
        )
    return {"name": f"slo-{slo.name}", "rules": rules}


def prometheus_rules(
    slos: Sequence[Slo],
    bounds_ms: Sequence[float] = BUCKETS_MS,
    extra_labels: Mapping[str, str] | None = None,
) -> Generated:
    """Every SLO that span metrics can express; the others are left out with a note.

    ``extra_labels`` go on the Prometheus alerts only (``source: prometheus``, to tell
    them from their in-process twins in one Alertmanager).
    """
    generated = Generated()
    for slo in slos:
        try:
            group = slo_group(slo, bounds_ms, generated)
        except Untranslatable as exc:
            generated.notes.append(f"SLO {slo.name} ({slo.location}) left out: {exc}")
            continue
        for rule in group["rules"]:
            if "alert" in rule:
                rule["labels"].update({k: template_literal(v) for k, v in (extra_labels or {}).items()})
        generated.groups.append(group)
    return generated
