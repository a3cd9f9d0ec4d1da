"""``otelbundle rules test``: promtool-style unit tests for span and log rules and SLOs, in simulated time.

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
parallel. Time runs as on the alert manager's thread: each span is folded (and
the rules evaluated early) when it ends, pending alerts fire when ``for``
elapses, and groups are evaluated at their ticks (``evaluate_on_spans: false``:
ticks only). A series' ``spans`` may also give ``exception: {type, message}``
(an exception event on its error spans) and ``logs: [...]`` (lines each of its
spans logs in its trace), so the evidence annotations (``exception``, ``span``,
``trace_url``, ``logs``) can be expected like any other. With ``config:`` (an
``otelbundle.yaml``), ``exp_channels`` lists the channels of its ``alerting.notify``
an alert would be routed to (their ``match:``, with its external labels). As with
promtool, only firing alerts are compared, and labels are compared without ``alertname``.
Log rules read ``input_records`` (:mod:`otelbundle.cli.ruletest_records`),
which run alongside the spans.
"""

from __future__ import annotations

import math
import os
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from opentelemetry.sdk._logs import ReadWriteLogRecord
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import Event, ReadableSpan
from opentelemetry.trace import SpanContext, StatusCode, TraceFlags
from opentelemetry.trace import Status as SpanStatus

from otelbundle.alerting.engine import Engine
from otelbundle.alerting.notify.channels import CHANNEL_KEYS
from otelbundle.alerting.notify.matchers import matches_all
from otelbundle.alerting.notify.routing_config import Routing, routes_of
from otelbundle.alerting.outgoing import ActiveAlert, alert_labels
from otelbundle.alerting.rule_files import load_rule_file
from otelbundle.alerting.section import AlertingConfig, rules_named_twice
from otelbundle.alerting.state import label_value
from otelbundle.alerting.trace_logs import LogLine
from otelbundle.cli import ruletest_records
from otelbundle.cli.ruletest_file import (
    SPAN_KINDS,
    as_bool,
    check_evaluation_count,
    check_test_file,
    expand,
    unknown_alertnames,
)
from otelbundle.config import (
    ConfigError,
    ConfigProblem,
    Mark,
    Problems,
    YamlList,
    YamlMap,
    load_file,
    new_list,
    parse_duration,
)
from otelbundle.scrub import Scrubber

_START = 1_000_000.0  # simulated epoch; only differences matter


@dataclass
class _Recorder:
    def submit(self, alerts: Any) -> None:
        return None


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
    exception: Mapping[str, str] | None = None,
) -> ReadableSpan:
    """A finished SDK span built from its parts, as the processor receives spans from the SDK;
    ``exception`` (``type``, ``message``) becomes its ``exception`` event, as record_exception makes."""
    if kind not in SPAN_KINDS:
        raise ValueError(f"kind {kind!r} is not one of {', '.join(SPAN_KINDS)}")
    end_ns = int(end * 1e9)
    return ReadableSpan(
        name=name,
        context=SpanContext(trace_id, trace_id, is_remote=False, trace_flags=TraceFlags(TraceFlags.SAMPLED)),
        kind=SPAN_KINDS[kind],
        attributes=dict(attributes),
        resource=resource,
        status=SpanStatus(StatusCode.ERROR if error else StatusCode.OK),
        start_time=end_ns - int(duration * 1e9),
        end_time=end_ns,
        events=[
            Event(
                "exception",
                {
                    "exception.type": exception.get("type", ""),
                    "exception.message": exception.get("message", ""),
                },
                end_ns,
            )
        ]
        if exception
        else [],
    )


def _series_resource(series: Mapping[str, Any]) -> Resource:
    return Resource(
        {"service.name": str(series.get("service", "service")), **dict(series.get("resource") or {})}
    )


def _span(
    series: Mapping[str, Any], resource: Resource, error: bool, duration: float, index: int
) -> ReadableSpan:
    exception = series.get("exception")
    return synthetic_span(
        name=str(series.get("name", "span")),
        kind=str(series.get("kind", "server")),
        error=error,
        duration=duration,
        attributes=series.get("attributes") or {},
        resource=resource,
        trace_id=index + 1,
        exception={str(k): str(v) for k, v in exception.items()} if error and exception else None,
    )


_SEVERITIES = ("TRACE", "DEBUG", "INFO", "WARN", "WARNING", "ERROR", "FATAL", "CRITICAL")


def _log_line(text: str, logger: str, span: ReadableSpan, at: float) -> LogLine:
    """``"ERROR payment failed"``: a line as the span's code would log it (INFO without a level)."""
    first, _, rest = text.partition(" ")
    severity, body = (first, rest) if first in _SEVERITIES else ("INFO", text)
    context = span.context
    return LogLine(int(at * 1e9), severity, logger, body, context.span_id if context is not None else 0)


def run_test_file(
    path: str, env: Mapping[str, str] | None = None, warnings: list[ConfigProblem] | None = None
) -> list[str]:
    """Every failure as a readable message; an empty list means all tests passed.

    A malformed test file (or rule file) raises ConfigError with every problem located,
    before anything runs. ``warnings`` receives what is not a failure but likely a mistake
    (an ``alertname`` of no rule).
    """
    document = load_file(path, env)
    root = document.root
    if not isinstance(root, YamlMap) or not isinstance(root.get("tests"), YamlList):
        raise ConfigError([ConfigProblem(Mark(path, 1, 1), "a rule test file needs a 'tests:' list")])
    problems = Problems()
    check_test_file(root, problems)
    base = os.path.dirname(os.path.abspath(path))
    config = AlertingConfig(path=path)
    config.evaluation_interval = problems.value(root, "evaluation_interval", parse_duration, 1.0)
    check_evaluation_count(root, config.evaluation_interval, problems)
    config.evaluate_on_spans = problems.value(root, "evaluate_on_spans", as_bool, True)
    rule_files = root.get("rule_files") or new_list(root.mark)
    read: set[str] = set()
    for index, rule_file in enumerate(rule_files):
        rule_path = os.path.join(base, str(rule_file))
        if not os.path.isfile(rule_path):
            problems.add(rule_files.item_mark(index), f"rule_files: {rule_file!r} is not a file")
            continue
        if os.path.realpath(rule_path) in read:  # as alerting.rule_files: a file named twice is read once
            continue
        read.add(os.path.realpath(rule_path))
        try:
            config.groups.extend(load_rule_file(rule_path, config, env))
        except ConfigError as exc:
            problems.extend(exc.problems)
    problems.extend(rules_named_twice(config.groups))  # refused together at start, so here
    routes = _routes(root, base, env, problems)
    problems.raise_if_any()
    if warnings is not None:
        warnings.extend(unknown_alertnames(root, (rule.name for rule in config.rules)))
    failures: list[str] = []
    for index, test in enumerate(root["tests"]):
        where = f"{path}: test {index + 1} ({test.get('name', 'unnamed')})"
        failures.extend(_run_one(config, test, where, routes))
    return failures


@dataclass
class _Routes:
    """The channels of the ``config:`` file (their routing only) and its external labels."""

    routes: list[Routing]
    external_labels: dict[str, str]

    def channels(self, alert: ActiveAlert, process: Mapping[str, str]) -> list[str]:
        """The channels ``alert`` goes to from a process with ``process`` labels (``service_name``),
        labelled as the app labels it: the process's and the group-by labels, the rule's over
        them, the config's external labels only where absent (outgoing.alert_labels)."""
        labels = alert_labels(alert.rule, {**process, **alert.series}, self.external_labels)
        return sorted(route.name for route in self.routes if matches_all(route.matchers, labels))


def _routes(root: YamlMap, base: str, env: Mapping[str, str] | None, problems: Problems) -> _Routes | None:
    if "config" not in root:
        return None
    path = os.path.join(base, str(root["config"]))
    if not os.path.isfile(path):
        problems.add(root.value_mark("config"), f"config: {root['config']!r} is not a file")
        return None
    try:
        config = load_file(path, env).root
    except ConfigError as exc:
        problems.extend(exc.problems)
        return None
    alerting = config.get("alerting") if isinstance(config, YamlMap) else None  # empty, or a list
    if not isinstance(alerting, YamlMap) or not isinstance(alerting.get("notify"), YamlMap):
        problems.add(root.value_mark("config"), f"config: {root['config']!r} has no alerting.notify section")
        return None
    routes, found = routes_of(alerting["notify"], CHANNEL_KEYS)
    problems.extend(found)
    labels = alerting.get("external_labels")
    external = {str(k): _text(labels, k) for k in labels} if isinstance(labels, YamlMap) else {}
    return _Routes(routes, external)


def _text(mapping: YamlMap, key: str) -> str:
    """A label or annotation value as the rule reader reads it: a number or boolean as written."""
    written = mapping.written(key)
    return written if written is not None else label_value(mapping[key])


def _texts(mapping: object) -> dict[str, str]:
    return {str(k): _text(mapping, k) for k in mapping} if isinstance(mapping, YamlMap) else {}


def _run_one(config: AlertingConfig, test: YamlMap, where: str, routes: _Routes | None) -> list[str]:
    for group in config.groups:
        group.interval = min(group.interval, config.evaluation_interval)
    interval = parse_duration(test.get("interval", "1s"))
    now = [_START]
    engine = Engine(config, _Recorder(), clock=lambda: now[0], scrubber=Scrubber())
    # (time, span or log record, the lines the span logs in its trace, its service)
    timeline: list[tuple[float, ReadableSpan | ReadWriteLogRecord, list[str], str]] = []
    counter = 0
    for series in test.get("input_spans") or []:
        spans = series.get("spans") or {}
        resource = _series_resource(spans)
        lines = [str(line) for line in spans.get("logs") or []]
        service = str(spans.get("service", "service"))
        for position, (error, duration) in enumerate(expand(series.get("values", ""))):
            span = _span(spans, resource, error, duration, counter)
            timeline.append((position * interval, span, lines, service))
            counter += 1
    for series in test.get("input_records") or []:
        records = ruletest_records.series_records(series, counter + 1)
        timeline.extend((position * interval, record, [], "") for position, record in enumerate(records))
        counter += len(records)
    timeline.sort(key=lambda item: item[0])
    # What the running process adds to every alert before routing it: its service_name (one
    # process, one service: known when the test's spans all name the same one); its instance
    # is unknown here, so a matcher on `instance` sees it absent.
    services = {
        str((series.get("spans") or {}).get("service", "service")) for series in test.get("input_spans") or []
    }
    process = {"service_name": services.pop()} if len(services) == 1 else {}
    processor = engine.processor
    processor.resize(len(timeline) + 1)  # never drops, however dense
    engine.log_intake.resize(len(timeline) + 1)
    checks = sorted(
        test.get("alert_rule_test") or [], key=lambda c: parse_duration(c["eval_time"], allow_zero=True)
    )
    failures: list[str] = []
    step = config.evaluation_interval
    tick, cursor = 0.0, 0
    for check in checks:
        until = parse_duration(check["eval_time"], allow_zero=True)
        # As on the manager's thread: spans are folded (and evaluated early) as they end,
        # pending alerts fire when `for` elapses, and every group is evaluated at its ticks.
        while True:
            arrival = timeline[cursor][0] if cursor < len(timeline) else math.inf
            t = min(tick, arrival, engine.next_deadline() - _START)
            if t > until + 1e-9:
                break
            now[0] = _START + t
            while cursor < len(timeline) and timeline[cursor][0] <= t + 1e-9:
                _, item, lines, service = timeline[cursor]
                if isinstance(item, ReadableSpan):
                    for line in lines:  # logged in the span's trace before it ended
                        engine.trace_logs.add(item.context.trace_id, _log_line(line, service, item, now[0]))
                    processor.on_end(item)
                else:
                    engine.log_intake.on_emit(item)
                cursor += 1
            if tick <= t + 1e-9:
                engine.evaluate(now[0])
                tick += step
            engine.fold(now[0])
        failures.extend(_compare(engine, check, where, routes, process))
    return failures


def _compare(
    engine: Engine, check: Mapping[str, Any], where: str, routes: _Routes | None, process: Mapping[str, str]
) -> list[str]:
    name = str(check.get("alertname", ""))
    firing = sorted(
        (
            alert
            for (group, rule), alerts in engine.active.items()
            if rule == name
            for alert in alerts.values()
            if alert.state == "firing"
        ),
        key=lambda alert: alert.fired_at,
    )
    # One alert per label set, the first to fire, as the app sends them (outgoing.speaker): the
    # labels the app gives them, with the process's and the config's external labels.
    external = routes.external_labels if routes is not None else engine.config.external_labels

    def sent_labels(alert: ActiveAlert) -> frozenset[tuple[str, str]]:
        return frozenset(alert_labels(alert.rule, {**process, **alert.series}, external).items())

    sent = {sent_labels(alert): alert for alert in reversed(firing)}.values()
    got = sorted(
        (
            (
                {k: v for k, v in alert.labels.items() if k != "alertname"},
                dict(_annotations(engine, alert)),
                routes.channels(alert, process) if routes is not None else None,
            )
            for alert in sent
        ),
        key=lambda item: repr(item[0]),
    )
    expected = sorted(
        (
            (
                _texts(item.get("exp_labels")),
                _texts(item.get("exp_annotations")),
                sorted(str(c) for c in item["exp_channels"]) if "exp_channels" in item else None,
            )
            for item in check.get("exp_alerts") or []
        ),
        key=lambda item: repr(item[0]),
    )
    if [g[0] for g in got] == [e[0] for e in expected] and all(
        all(g[1].get(k) == v for k, v in e[1].items()) and (e[2] is None or g[2] == e[2])
        for g, e in zip(got, expected, strict=True)
    ):
        return []

    def describe(
        labels: Mapping[str, str], annotations: Mapping[str, str], channels: list[str] | None
    ) -> str:
        routed = f" channels={channels}" if channels is not None else ""
        return f"    labels={labels} annotations={annotations}{routed}"

    lines = [f"{where}: alertname {name} at eval_time {check.get('eval_time')}:", "  expected:"]
    lines += [describe(*item) for item in expected] or ["    (no firing alerts)"]
    lines.append("  got:")
    lines += [describe(*item) for item in got] or ["    (no firing alerts)"]
    return ["\n".join(lines)]


def _annotations(engine: Engine, alert: Any) -> Mapping[str, str]:
    """What a webhook would carry: the rule's annotations, ``trace_ids`` and the evidence ones."""
    return engine.notification(alert, engine.clock()).annotations_with_evidence
