"""``otelbundle rules test``: promtool-style unit tests for span rules, in simulated time.

    rule_files: [storefront.rules.yaml]
    evaluation_interval: 1s
    tests:
      - name: checkout errors page at once
        interval: 1s                       # time between consecutive input spans
        input_spans:
          - spans: {service: storefront, kind: server, name: "POST /checkout",
                    attributes: {http.route: /checkout}}
            values: "ok 200ms x50, error 2s x5"
        alert_rule_test:
          - eval_time: 1m
            alertname: CheckoutErrors
            exp_alerts:
              - exp_labels: {severity: critical}
                exp_annotations: {summary: "9.091% of checkouts fail"}

Each ``values`` item is ``ok|error DURATION xCOUNT``; the items of one series
follow each other, one span every ``interval``, starting at 0. Series run in
parallel. As with promtool, only firing alerts are compared, and labels are
compared without ``alertname``.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.trace import SpanContext, StatusCode, TraceFlags
from opentelemetry.trace import Status as SpanStatus

from otelbundle.alerting.batch import KIND_NAMES
from otelbundle.alerting.config import AlertingConfig, load_rule_file
from otelbundle.alerting.engine import Engine
from otelbundle.alerting.setup import connect_processor
from otelbundle.config import ConfigError, ConfigProblem, Mark, YamlList, YamlMap, load_file, parse_duration

_ITEM = re.compile(r"^\s*(ok|error)\s+(\S+)\s+x(\d+)\s*$")
_START = 1_000_000.0  # simulated epoch; only differences matter
_SPAN_KINDS = {name: kind for kind, name in KIND_NAMES.items()}


@dataclass
class _Recorder:
    def submit(self, alerts: Any) -> None:
        return None


def _expand(text: str) -> list[tuple[bool, float]]:
    spans: list[tuple[bool, float]] = []
    for item in str(text).split(","):
        match = _ITEM.match(item)
        if match is None:
            raise ValueError(f"{item.strip()!r} is not 'ok|error DURATION xCOUNT'")
        error, duration, count = (
            match.group(1) == "error",
            parse_duration(match.group(2)),
            int(match.group(3)),
        )
        spans.extend([(error, duration)] * count)
    return spans


def synthetic_span(
    *,
    name: str,
    kind: str,
    error: bool,
    duration: float,
    attributes: Mapping[str, Any],
    resource: Resource,
    trace_id: int,
    end: float = _START,
) -> ReadableSpan:
    """A finished SDK span built from its parts, as the processor receives spans from the SDK."""
    if kind not in _SPAN_KINDS:
        raise ValueError(f"kind {kind!r} is not one of {', '.join(_SPAN_KINDS)}")
    end_ns = int(end * 1e9)
    return ReadableSpan(
        name=name,
        context=SpanContext(trace_id, trace_id, is_remote=False, trace_flags=TraceFlags(TraceFlags.SAMPLED)),
        kind=_SPAN_KINDS[kind],
        attributes=dict(attributes),
        resource=resource,
        status=SpanStatus(StatusCode.ERROR if error else StatusCode.OK),
        start_time=end_ns - int(duration * 1e9),
        end_time=end_ns,
    )


def _series_resource(series: Mapping[str, Any]) -> Resource:
    return Resource(
        {"service.name": str(series.get("service", "service")), **dict(series.get("resource") or {})}
    )


def _span(
    series: Mapping[str, Any], resource: Resource, error: bool, duration: float, index: int
) -> ReadableSpan:
    return synthetic_span(
        name=str(series.get("name", "span")),
        kind=str(series.get("kind", "server")),
        error=error,
        duration=duration,
        attributes=series.get("attributes") or {},
        resource=resource,
        trace_id=index + 1,
    )


def run_test_file(path: str, env: Mapping[str, str] | None = None) -> list[str]:
    """Every failure as a readable message; an empty list means all tests passed."""
    document = load_file(path, env)
    root = document.root
    if not isinstance(root, YamlMap) or not isinstance(root.get("tests"), YamlList):
        raise ConfigError([ConfigProblem(Mark(path, 1, 1), "a rule test file needs a 'tests:' list")])
    base = os.path.dirname(os.path.abspath(path))
    config = AlertingConfig(path=path)
    config.evaluation_interval = parse_duration(root.get("evaluation_interval", "1s"))
    for rule_file in root.get("rule_files") or []:
        config.groups.extend(load_rule_file(os.path.join(base, str(rule_file)), config, env))
    failures: list[str] = []
    for index, test in enumerate(root["tests"]):
        failures.extend(_run_one(config, test, f"{path}: test {index + 1} ({test.get('name', 'unnamed')})"))
    return failures


def _run_one(config: AlertingConfig, test: YamlMap, where: str) -> list[str]:
    for group in config.groups:
        group.interval = min(group.interval, config.evaluation_interval)
    interval = parse_duration(test.get("interval", "1s"))
    now = [_START]
    engine = Engine(config, _Recorder(), clock=lambda: now[0])
    timeline: list[tuple[float, ReadableSpan]] = []
    counter = 0
    for series in test.get("input_spans") or []:
        spans = series.get("spans") or {}
        resource = _series_resource(spans)
        for position, (error, duration) in enumerate(_expand(series.get("values", ""))):
            timeline.append((position * interval, _span(spans, resource, error, duration, counter)))
            counter += 1
    timeline.sort(key=lambda item: item[0])
    processor = connect_processor(engine, queue_size=len(timeline) + 1)  # never drops, however dense
    checks = sorted(
        test.get("alert_rule_test") or [], key=lambda c: parse_duration(c["eval_time"], allow_zero=True)
    )
    failures: list[str] = []
    step = config.evaluation_interval
    t, cursor = 0.0, 0
    for check in checks:
        until = parse_duration(check["eval_time"], allow_zero=True)
        while t <= until + 1e-9:
            while cursor < len(timeline) and timeline[cursor][0] <= t + 1e-9:
                processor.on_end(timeline[cursor][1])
                cursor += 1
            now[0] = _START + t
            engine.evaluate(now[0])
            t += step
        failures.extend(_compare(engine, check, where))
    return failures


def _compare(engine: Engine, check: Mapping[str, Any], where: str) -> list[str]:
    name = str(check.get("alertname", ""))
    got = sorted(
        (
            ({k: v for k, v in alert.labels.items() if k != "alertname"}, dict(_annotations(engine, alert)))
            for (group, rule), alerts in engine.active.items()
            if rule == name
            for alert in alerts.values()
            if alert.state == "firing"
        ),
        key=repr,
    )
    expected = sorted(
        (
            (
                {str(k): str(v) for k, v in (item.get("exp_labels") or {}).items()},
                {str(k): str(v) for k, v in (item.get("exp_annotations") or {}).items()},
            )
            for item in check.get("exp_alerts") or []
        ),
        key=repr,
    )
    if [labels for labels, _ in got] == [labels for labels, _ in expected] and all(
        all(g[1].get(k) == v for k, v in e[1].items()) for g, e in zip(got, expected, strict=True)
    ):
        return []
    lines = [f"{where}: alertname {name} at eval_time {check.get('eval_time')}:", "  expected:"]
    lines += [f"    labels={labels} annotations={annotations}" for labels, annotations in expected] or [
        "    (no firing alerts)"
    ]
    lines.append("  got:")
    lines += [f"    labels={labels} annotations={annotations}" for labels, annotations in got] or [
        "    (no firing alerts)"
    ]
    return ["\n".join(lines)]


def _annotations(engine: Engine, alert: Any) -> Mapping[str, str]:
    from otelbundle.alerting.templates import Context

    context = Context(alert.labels, alert.value, engine.config.external_labels, "")
    return {name: template.render(context) for name, template in alert.rule.annotations.items()}
