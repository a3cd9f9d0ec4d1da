"""Every otelbundle.alerting.* instrument is created on the meter provider it is given."""

from __future__ import annotations

from pathlib import Path

from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import HistogramDataPoint, InMemoryMetricReader

from otelbundle.alerting.manager import start_alerting
from otelbundle.alerting.section import load_alerting_config
from otelbundle.alerting.telemetry import EVALUATION_BUCKETS

RULES = """\
groups:
  - name: g
    rules:
      - {alert: Errors, expr: error_count > 0}
"""


def test_instruments_use_the_injected_meter_provider(tmp_path: Path) -> None:
    (tmp_path / "r.yaml").write_text(RULES)
    (tmp_path / "otelbundle.yaml").write_text(
        "alerting:\n  rule_files: [r.yaml]\n  notify: {webhook: {url: 'http://127.0.0.1:9/x'}}\n"
    )
    config = load_alerting_config(str(tmp_path / "otelbundle.yaml"), {})
    assert config is not None
    reader = InMemoryMetricReader()
    manager = start_alerting(config, {}, meter_provider=MeterProvider(metric_readers=[reader]))
    try:
        manager.engine.evaluate(manager.engine.clock())
        data = reader.get_metrics_data()
        names = {
            metric.name
            for resource in data.resource_metrics
            for scope in resource.scope_metrics
            if scope.scope.name == "otelbundle.alerting"
            for metric in scope.metrics
        }
    finally:
        manager.shutdown()
    assert {
        "otelbundle.alerting.evaluation.duration",
        "otelbundle.alerting.spans.seen",
        "otelbundle.alerting.spans.dropped",
        "otelbundle.alerting.spans.failed",
        "otelbundle.alerting.notifications.sent",
    } <= names, names


def test_evaluation_durations_fall_in_buckets_that_tell_them_apart(tmp_path: Path) -> None:
    """The SDK's default buckets are for milliseconds: with unit s every evaluation was in (0, 5]."""
    (tmp_path / "r.yaml").write_text(RULES)
    (tmp_path / "otelbundle.yaml").write_text(
        "alerting:\n  rule_files: [r.yaml]\n  notify: {webhook: {url: 'http://127.0.0.1:9/x'}}\n"
    )
    config = load_alerting_config(str(tmp_path / "otelbundle.yaml"), {})
    assert config is not None
    reader = InMemoryMetricReader()
    manager = start_alerting(config, {}, meter_provider=MeterProvider(metric_readers=[reader]))
    try:
        for _ in range(5):
            manager.engine.evaluate(manager.engine.clock())
        data = reader.get_metrics_data()
    finally:
        manager.shutdown()
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
