"""Prometheus itself checks the labels and annotations of the alerts the engine sends.

A table of rules in two rule files, each with a group named ``shop`` (groups are known by file and
name) and several rules a group, is loaded into the engine; random spans give each rule some
group keys, and the engine evaluates them once. The same rule files, with each rule's ``expr``
made ``v_<alert>``, go to ``promtool test rules`` with one input series per key: the process's
labels and the group-by labels the test gave the spans, valued at the alert's value. The labels
and annotations the engine sent are promtool's expected alerts, so promtool fails on any
difference in label order (series labels, then the rule's labels over them, then ``alertname``),
in what ``$labels`` holds (the series' labels only), in label values as written (``010``,
``0x10``, ``yes``, ``1e3``, ``~``), in how ``$value`` prints, plain and through ``humanize``,
``humanizePercentage``, ``humanizeDuration`` and ``printf`` in pipe and call form, or in Go's
trim markers.

Kept out, where we differ from Prometheus by design (docs/alerting.md):

* the condition: our windows of spans are not PromQL, so each series carries our alert's value;
  every rule holds whenever its window has spans and ``for`` is 0s, so each key fires at once;
* keys that end with the same labels (a rule label over a group-by label of two values):
  Prometheus refuses to evaluate such a rule, we send one alert per label set; so a group-by
  attribute whose label a rule also sets gets a single value per case;
* ``humanize*`` on a label that is not a number: Prometheus' template fails, ours passes the
  text through; so the labels humanized here are always set, and numbers to both Go's ParseFloat
  and ours (``010``, ``1e3``, ``1_000``, ``+5``, ``Inf``, ``nan``). Texts the two read
  differently (``0x1p-2``, `` 5``, ``1e500``) are left out too, though not by design;
* the external labels: Prometheus adds them in the notifier, after the point promtool sees;
  those ours carries where Prometheus' alert has no such label are checked to be the external
  label's value and left out of ``exp_labels`` (promtool still renders ``$externalLabels``);
* ``$exemplar.trace_id`` and the ``trace_ids`` annotation are ours only;
* ``alertname``: promtool adds it to ``exp_labels`` itself; ours is checked to be the rule's name.
"""

from __future__ import annotations

import json
import random
import shutil
import subprocess
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml
from opentelemetry.sdk.resources import Resource

from otelbundle.alerting.alert import Alert, AlertState
from otelbundle.alerting.engine import Engine
from otelbundle.alerting.section import load_alerting_config
from otelbundle.cli.ruletest import synthetic_span
from tests.unit.alerting.helpers import Recorder

pytestmark = pytest.mark.skipif(
    shutil.which("promtool") is None, reason="promtool (Debian prometheus) not installed"
)

CASES = 40
NOW = 1_000_000.0

# Written in the alerting section and given to promtool; each name also in a rule or the series.
EXTERNAL = {"env": "prod", "team": "ext", "instance": "pool-a", "http_route": "ext", "zone": "010"}
EXTERNAL_YAML = "{env: prod, team: ext, instance: pool-a, http_route: ext, zone: 010}"

PROCESSES: list[dict[str, str]] = [
    {"instance": "worker-1", "service_name": "shop"},
    {"instance": "w-2"},
    {},  # as `rules test`: no process labels
]

# Group-by values the spans carry; the humanized `code` only numbers both Python and Go read.
VALUES: dict[str, list[Any]] = {
    "http.route": ["/a", "/pay", '/q"x', "/straße/日本", "/a b"],
    "severity": ["ERROR", "WARN", "010"],
    "code": ["010", "500", "1e3", "2.5", 404, "1_000", ".5", "+5", "Inf", "-infinity", "nan"],
    "retry": ["0", "1", 7, "1e-3"],
}
# Humanized in a template: always present, as "" is not a number to Prometheus either.
HUMANIZED = {"code", "retry"}
DURATIONS = [0.0001, 0.012345, 0.25, 1.5, 42.0, 90.0, 3725.0, 172800.0]


@dataclass(frozen=True)
class Spec:
    """One rule, written the same in both rule files but for how its condition is said."""

    file: str
    group: str
    alert: str
    expr: str  # ours: holds whenever the window has spans
    group_by: tuple[str, ...]
    labels: str  # a YAML flow mapping, as written in both files
    annotations: tuple[tuple[str, str], ...]  # name, YAML value as written in both files


SPECS = [
    Spec(
        "a.rules.yaml",
        "shop",
        "RouteErrors",
        "error_ratio >= 0",
        ("http.route", "severity"),
        "{severity: page, code: 010, mask: 0x10, page: yes, limit: 1e3, big: 1_000, team: shop}",
        (
            (
                "summary",
                '"{{ $labels.http_route }} ({{ $labels.severity }}): {{ $value | humanizePercentage }}"',
            ),
            (
                "call",
                '"{{ humanizePercentage $value }} of {{ $labels.service_name }}@{{ $labels.instance }}"',
            ),
            (
                "rule_labels",
                '"[{{ $labels.team }}|{{ $labels.alertname }}|{{ $labels.code }}|{{ $labels.nope }}]"',
            ),
            ("raw", '"{{ $value }}"'),
            ("written", "010"),
        ),
    ),
    Spec(
        "a.rules.yaml",
        "shop",
        "Slow",
        "avg_duration >= 0",
        ("http.route",),
        '{instance: "", team: ~, tier: 0x1F}',
        (
            ("pipe", '"{{ $value | humanizeDuration }} ({{ $value }})"'),
            ("call", '"{{ humanizeDuration $value }} on {{ printf \\"%-12s|\\" $labels.http_route }}"'),
            ("trim", '"took  {{- $value | printf \\"%.3f\\" -}}  s"'),
            ("lines", '"route:\\n   {{- $labels.http_route }}\\n{{ $externalLabels.env -}}\\n\\n  !"'),
        ),
    ),
    Spec(
        "a.rules.yaml",
        "shop",
        "Volume",
        "count > 0",
        (),
        "{severity: info, on: true}",
        (
            ("h", '"{{ humanize $value }}/{{ $value | humanize }}"'),
            ("chain", '"{{ humanize $value | printf \\"%.5s\\" }}"'),
            ("ext", '"{{ $externalLabels.team }}{{ $externalLabels.missing }}/{{ $labels.severity }}"'),
        ),
    ),
    Spec(
        "b.rules.yaml",
        "shop",
        "Codes",
        "max_duration >= 0",
        ("code", "retry"),
        "{status: 010, retry: yes}",
        (
            ("code", '"{{ $labels.code }}={{ $labels.code | humanize }}={{ humanize $labels.code }}"'),
            ("as_time", '"{{ $labels.code | humanizeDuration }} {{ $labels.retry | humanizePercentage }}"'),
            (
                "printf",
                '"{{ printf \\"%.2f\\" $value }} {{ $value | printf \\"%e\\" }} {{ printf \\"%g\\" $value }}"',
            ),
            ("padded", '"{{ printf \\"%8.3g|%%\\" $value }}{{ $labels.retry | printf \\"%-3s\\" }}|"'),
        ),
    ),
    Spec(
        "b.rules.yaml",
        "shop",
        "Tail",
        "p95 >= 0",
        ("severity",),
        "{}",
        (
            ("s", '"{{- $labels.severity -}}  :  {{- humanize $value -}}"'),
            ("v", '"{{ printf \\"%v\\" $value }} {{ $value | printf \\"%+.1e\\" }}"'),
        ),
    ),
    Spec(
        "b.rules.yaml",
        "other",
        "Rate",
        "rate > 0",
        ("http.route", "retry"),
        "{http_route: /fixed, env: staging}",
        (
            ("r", '"{{ $labels.http_route }} {{ $value | humanize }}/s {{ $value }}"'),
            ("e", '"{{ $externalLabels.env }} {{ $externalLabels.http_route }} {{ $externalLabels.zone }}"'),
        ),
    ),
]


def _rule_file(specs: Sequence[Spec], ours: bool) -> str:
    """A rule file of ``specs`` in their groups; ``ours`` says the condition over spans."""
    lines = ["groups:"]
    for group in dict.fromkeys(spec.group for spec in specs):
        lines += [f"  - name: {group}", "    interval: 1s", "    rules:"]
        for spec in (s for s in specs if s.group == group):
            lines.append(f"      - alert: {spec.alert}")
            if ours:
                lines += [
                    f"        spans: {{name: op-{spec.alert}}}",
                    f"        expr: {spec.expr}",
                    "        window: 1m",
                    f"        group_by: [{', '.join(spec.group_by)}]",
                ]
            else:
                lines.append(f"        expr: v_{spec.alert}")
            lines += [f"        labels: {spec.labels}", "        annotations:"]
            lines += [f"          {name}: {value}" for name, value in spec.annotations]
    return "\n".join(lines) + "\n"


def _rule_labels(spec: Spec) -> dict[str, str]:
    """The rule's labels by name; an empty value (``""``, ``~``) is one that removes a label.
    Only names and emptiness are read here (safe_load reads ``010`` as 8; the files keep the text)."""
    written = yaml.safe_load(spec.labels) or {}
    return {name: "" if value is None else str(value) for name, value in written.items()}


def _label(attribute: str) -> str:
    return attribute.replace(".", "_")


def _keys(rng: random.Random, spec: Spec) -> list[dict[str, Any]]:
    """Distinct attribute sets for a rule's spans: a missing attribute is a key of its own. An
    attribute whose label the rule also sets gets one value, so no two keys end alike."""
    fixed = {a: rng.choice(VALUES[a]) for a in spec.group_by if _label(a) in _rule_labels(spec)}
    keys: dict[str, dict[str, Any]] = {}
    for _ in range(rng.randint(1, 4)):
        attributes = {
            a: fixed.get(a, rng.choice(VALUES[a]))
            for a in spec.group_by
            if a in fixed or a in HUMANIZED or rng.random() < 0.85
        }
        keys.setdefault(json.dumps({a: str(v) for a, v in attributes.items()}, sort_keys=True), attributes)
    return list(keys.values())


def _series(process: Mapping[str, str], attributes: Mapping[str, Any]) -> dict[str, str]:
    """What Prometheus would have as the series: the process's labels, then the group-by labels."""
    return {**process, **{_label(a): str(v) for a, v in attributes.items()}}


def _selector(name: str, labels: Mapping[str, str]) -> str:
    inner = ", ".join(f"{k}={json.dumps(v, ensure_ascii=False)}" for k, v in sorted(labels.items()))
    return f"{name}{{{inner}}}"


class Driver:
    """An engine on a fixed clock with the given process labels; spans end at its one evaluation."""

    def __init__(self, config_path: Path, process: Mapping[str, str]) -> None:
        config = load_alerting_config(str(config_path), {})
        assert config is not None
        self.engine = Engine(config, Recorder(), clock=lambda: NOW, process_labels=lambda: dict(process))
        self.resource = Resource({"service.name": "shop"})

    def span(self, spec: Spec, attributes: Mapping[str, Any], rng: random.Random) -> None:
        span = synthetic_span(
            name=f"op-{spec.alert}",
            kind="server",
            error=rng.random() < 0.4,
            duration=rng.choice(DURATIONS) * rng.choice([1, 1, 1.37, 0.5]),
            attributes=attributes,
            resource=self.resource,
            trace_id=0,
            end=NOW - rng.random() * 30,
        )
        self.engine.processor.on_end(span)

    def evaluate(self) -> list[Alert]:
        self.engine.processor.drain(NOW)
        return self.engine.evaluate(NOW)

    def alert(self, spec: Spec, key: tuple[str, ...]) -> Alert:
        """The firing alert of ``spec``'s ``key`` (the group-by values, "" for a missing one), as sent."""
        active = self.engine.active[(spec.group, spec.alert)][key]
        assert active.state is AlertState.FIRING
        return self.engine.notification(active, NOW)


def _expected_labels(spec: Spec, alert: Alert, series: Mapping[str, str]) -> dict[str, str]:
    """Ours, less what Prometheus' notifier adds: ``alertname`` (promtool adds it) and the
    external labels where Prometheus' alert has no such label (checked to be the external one)."""
    rule = _rule_labels(spec)
    prometheus_names = ({n for n, v in series.items() if v} | {n for n, v in rule.items() if v}) - {
        n for n, v in rule.items() if not v
    }
    labels = dict(alert.labels)
    assert labels.pop("alertname") == spec.alert
    for name, value in EXTERNAL.items():
        if name not in prometheus_names:
            assert labels.pop(name, None) == value, (spec.alert, name, alert.labels)
    return labels


def _case(rng: random.Random, config: Path, case: int) -> dict[str, Any]:
    """One promtool test group: the engine's alerts for random spans, as expected alerts."""
    process = rng.choice(PROCESSES)
    driver = Driver(config, process)
    keys = {spec.alert: _keys(rng, spec) for spec in SPECS}
    for spec in SPECS:
        for attributes in keys[spec.alert]:
            for _ in range(rng.randint(1, 5)):
                driver.span(spec, attributes, rng)
    sent = driver.evaluate()
    assert len(sent) == sum(map(len, keys.values()))  # every key fired, once
    input_series, tests = [], []
    for spec in SPECS:
        expected = []
        for attributes in keys[spec.alert]:
            series = _series(process, attributes)
            alert = driver.alert(spec, tuple(str(attributes.get(a, "")) for a in spec.group_by))
            input_series.append({"series": _selector(f"v_{spec.alert}", series), "values": repr(alert.value)})
            annotations = {k: v for k, v in alert.annotations.items() if k != "trace_ids"}
            expected.append(
                {"exp_labels": _expected_labels(spec, alert, series), "exp_annotations": annotations}
            )
        tests.append({"eval_time": "0s", "alertname": spec.alert, "exp_alerts": expected})
    return {
        "name": f"case {case}: process {process}",
        "interval": "1s",
        "external_labels": dict(EXTERNAL),
        "input_series": input_series,
        "alert_rule_test": tests,
    }


def test_labels_and_annotations_are_what_prometheus_computes(tmp_path: Path) -> None:
    ours, theirs = tmp_path / "ours", tmp_path / "prometheus"
    ours.mkdir()
    theirs.mkdir()
    for file in dict.fromkeys(spec.file for spec in SPECS):
        specs = [spec for spec in SPECS if spec.file == file]
        (ours / file).write_text(_rule_file(specs, ours=True))
        (theirs / file).write_text(_rule_file(specs, ours=False))
    config = ours / "otelbundle.yaml"
    config.write_text(
        "alerting:\n  rule_files: [a.rules.yaml, b.rules.yaml]\n"
        f"  external_labels: {EXTERNAL_YAML}\n  evaluate_on_spans: false\n"
    )
    rng = random.Random(20261207)
    tests = [_case(rng, config, case) for case in range(CASES)]
    (theirs / "labels.test.yaml").write_text(
        yaml.safe_dump(
            {
                "rule_files": sorted(dict.fromkeys(spec.file for spec in SPECS)),
                "evaluation_interval": "1s",
                "tests": tests,
            },
            allow_unicode=True,
        )
    )
    result = subprocess.run(
        ["promtool", "test", "rules", "labels.test.yaml"], cwd=theirs, capture_output=True, text=True
    )
    assert result.returncode == 0, result.stdout[-6000:] + result.stderr[-2000:]
