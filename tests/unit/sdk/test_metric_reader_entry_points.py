"""Which exporters get the fork-safe reader while the SDK's configurator runs, and the way back."""

from __future__ import annotations

from importlib.metadata import entry_points

import pytest

from otelbundle.sdk.metric_reader import ForkSafeMetricReader
from otelbundle.sdk.metric_reader_entry_points import (
    READER_ENTRY_POINTS,
    fork_safe_exporter_names,
    installed_for_sdk_setup,
)


@pytest.mark.parametrize(
    ("env", "expected"),
    [
        (
            {"OTEL_METRICS_EXPORTER": "otlp", "OTEL_EXPORTER_OTLP_PROTOCOL": "http/protobuf"},
            "otelbundle_otlp_proto_http",
        ),
        (
            {"OTEL_METRICS_EXPORTER": "otlp", "OTEL_EXPORTER_OTLP_PROTOCOL": "grpc"},
            "otelbundle_otlp_proto_grpc",
        ),
        # The signal's own protocol wins, and a bare "otlp" is gRPC for the SDK.
        (
            {
                "OTEL_METRICS_EXPORTER": "otlp",
                "OTEL_EXPORTER_OTLP_PROTOCOL": "grpc",
                "OTEL_EXPORTER_OTLP_METRICS_PROTOCOL": "http/protobuf",
            },
            "otelbundle_otlp_proto_http",
        ),
        ({"OTEL_METRICS_EXPORTER": "otlp"}, "otelbundle_otlp_proto_grpc"),
        (
            {"OTEL_METRICS_EXPORTER": "otlp_proto_http, console"},
            "otelbundle_otlp_proto_http,otelbundle_console",
        ),
        ({"OTEL_METRICS_EXPORTER": "prometheus,otlp_proto_http"}, "prometheus,otelbundle_otlp_proto_http"),
        # Left for the SDK: nothing to cover, or an error the SDK reports itself.
        ({"OTEL_METRICS_EXPORTER": "prometheus"}, None),
        ({"OTEL_METRICS_EXPORTER": "none"}, None),
        ({}, None),
        ({"OTEL_METRICS_EXPORTER": "otlp", "OTEL_EXPORTER_OTLP_PROTOCOL": "http/json"}, None),
    ],
)
def test_covered_exporters_are_named_by_their_fork_safe_reader(
    env: dict[str, str], expected: str | None
) -> None:
    assert fork_safe_exporter_names(env) == expected


def test_the_users_value_is_back_after_the_sdk_setup_even_when_it_fails() -> None:
    env = {"OTEL_METRICS_EXPORTER": "otlp", "OTEL_EXPORTER_OTLP_PROTOCOL": "http/protobuf"}
    with pytest.raises(RuntimeError), installed_for_sdk_setup(env):
        assert env["OTEL_METRICS_EXPORTER"] == "otelbundle_otlp_proto_http"
        raise RuntimeError("the SDK's configurator failed")
    assert env["OTEL_METRICS_EXPORTER"] == "otlp"
    untouched = {"OTEL_METRICS_EXPORTER": "prometheus"}
    with installed_for_sdk_setup(untouched):
        assert untouched == {"OTEL_METRICS_EXPORTER": "prometheus"}


@pytest.mark.parametrize("name", sorted(READER_ENTRY_POINTS.values()))
def test_each_name_is_an_installed_entry_point_of_a_fork_safe_reader_around_that_exporter(name: str) -> None:
    """What the SDK's configurator does with the name: load it and construct it without arguments."""
    (point,) = entry_points(group="opentelemetry_metrics_exporter", name=name)
    reader = point.load()(export_interval_millis=float("inf"))
    try:
        assert isinstance(reader, ForkSafeMetricReader)
        wrapped = next(k for k, v in READER_ENTRY_POINTS.items() if v == name)
        (sdk_point,) = entry_points(group="opentelemetry_metrics_exporter", name=wrapped)
        assert type(reader._exporter) is sdk_point.load()
    finally:
        reader.shutdown(timeout_millis=1_000)
