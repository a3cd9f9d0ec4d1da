"""Every otelbundle.alerting.* instrument is created on the meter provider it is given."""

from __future__ import annotations

from pathlib import Path

import pytest
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import HistogramDataPoint, InMemoryMetricReader, MetricsData

from otelbundle.alerting.alert import AlertState
from otelbundle.alerting.manager import start_alerting
from otelbundle.alerting.section import load_alerting_config
from otelbundle.alerting.telemetry import EVALUATION_BUCKETS, AlertTelemetry

RULES = """\
groups:
  - name: g
    rules:
      - {alert: Errors, expr: error_count > 0}
"""


def _evaluated(tmp_path: Path, times: int) -> MetricsData:
    """The metrics of alerting started from a one-rule config on a provider of its own, after
    ``times`` evaluations."""
    (tmp_path / "r.yaml").write_text(RULES)
    (tmp_path / "otelbundle.yaml").write_text(
        "alerting:\n  rule_files: [r.yaml]\n  notify: {webhook: {url: 'http://127.0.0.1:9/x'}}\n"
    )
    config = load_alerting_config(str(tmp_path / "otelbundle.yaml"), {})
    assert config is not None
    reader = InMemoryMetricReader()
    manager = start_alerting(config, {}, meter_provider=MeterProvider(metric_readers=[reader]))
    try:
        for _ in range(times):
            manager.engine.evaluate(manager.engine.clock())
        data = reader.get_metrics_data()
    finally:
        manager.shutdown()
    assert data is not None
    return data


def test_instruments_use_the_injected_meter_provider(tmp_path: Path) -> None:
    data = _evaluated(tmp_path, 1)
    names = {
        metric.name
        for resource in data.resource_metrics
        for scope in resource.scope_metrics
        if scope.scope.name == "otelbundle.alerting"
        for metric in scope.metrics
    }
    assert {
        "otelbundle.alerting.evaluation.duration",
        "otelbundle.alerting.spans.seen",
        "otelbundle.alerting.spans.dropped",
        "otelbundle.alerting.spans.failed",
        "otelbundle.alerting.notifications.sent",
    } <= names, names


def test_evaluation_durations_fall_in_buckets_that_tell_them_apart(tmp_path: Path) -> None:
    """The SDK's default buckets are for milliseconds: with unit s every evaluation was in (0, 5]."""
    data = _evaluated(tmp_path, 5)
    (point,) = [
        p
        for resource in data.resource_metrics
        for scope in resource.scope_metrics
        for metric in scope.metrics
        if metric.name == "otelbundle.alerting.evaluation.duration"
        for p in metric.data.data_points
    ]
    assert isinstance(point, HistogramDataPoint)
    assert tuple(point.explicit_bounds) == EVALUATION_BUCKETS and point.count >= 5


def _alert_points(reader: InMemoryMetricReader) -> list[tuple[dict[str, object], float]]:
    data = reader.get_metrics_data()
    if data is None:
        return []
    return [
        (dict(point.attributes or {}), point.value)
        for resource in data.resource_metrics
        for scope in resource.scope_metrics
        for metric in scope.metrics
        if metric.name == "otelbundle.alerting.alerts"
        for point in metric.data.data_points
    ]


def test_alerts_whose_keys_turn_over_are_not_kept_by_the_sdk_for_ever(
    capsys: pytest.CaptureFixture[str],
) -> None:
    """The SDK keeps every label set an instrument was given; a rule grouped by a path reports new
    alerts every minute, and the gauge's memory grew for as long as the process ran (soak: 4 234 to
    47 170 aggregations in 25 minutes). Past the cap, new alerts are counted in one overflow set."""
    reader = InMemoryMetricReader()
    telemetry = AlertTelemetry(meter_provider=MeterProvider(metric_readers=[reader]), max_alert_series=250)
    first = [
        ({"alertname": "PathSeen", "url_path": f"/stock/first-{i}"}, AlertState.FIRING) for i in range(50)
    ]
    handed: set[tuple[tuple[str, object], ...]] = set()
    for round_ in range(20):
        new = [
            ({"alertname": "PathSeen", "url_path": f"/stock/{round_}-{i}"}, AlertState.FIRING)
            for i in range(100)
        ]
        telemetry.set_active(("g", "PathSeen"), first + new)
        points = _alert_points(reader)
        handed |= {tuple(sorted(attributes.items())) for attributes, _ in points}
    assert len(handed) <= 250 + 1  # the cap, and the one overflow set of this rule and state
    overflow = [value for attributes, value in points if attributes.get("otel.metric.overflow") == "true"]
    # The last round: the 50 alerts admitted first keep their own series, the 100 new ones are counted.
    assert overflow == [100]
    kept = {a["url_path"] for a, _ in points if "url_path" in a}
    assert kept == {f"/stock/first-{i}" for i in range(50)}
    assert sum(value for _, value in points) == 150  # sum() over the gauge still counts every alert
    said = [
        line for line in capsys.readouterr().err.splitlines() if "otelbundle.alerting.alerts gauge" in line
    ]
    assert len(said) == 1 and "250 different alerts" in said[0], said
