"""How the SDK's configurator installs :class:`ForkSafeMetricReader` instead of its own periodic reader.

The SDK's configurator wraps every push exporter named in OTEL_METRICS_EXPORTER
in its own ``PeriodicExportingMetricReader``; the one supported way to give it
another reader is an ``opentelemetry_metrics_exporter`` entry point naming a
``MetricReader`` class (as the Prometheus reader is). The classes here are those
entry points (pyproject.toml), one per exporter the distro covers, and
:func:`installed_for_sdk_setup` names them in OTEL_METRICS_EXPORTER while the
SDK's configurator runs.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Mapping, MutableMapping
from contextlib import contextmanager
from importlib.metadata import entry_points

from otelbundle.sdk.export import http_session
from otelbundle.sdk.metric_reader import ExporterFactory, ForkSafeMetricReader


class _ReaderOfEntryPoint(ForkSafeMetricReader):
    """This reader around the exporter of one ``opentelemetry_metrics_exporter`` entry point."""

    exporter_entry_point = ""

    def __init__(
        self, export_interval_millis: float | None = None, export_timeout_millis: float | None = None
    ):
        exporter_class = _exporter_class(self.exporter_entry_point)
        factory = exporter_class
        if self.exporter_entry_point == "otlp_proto_http":
            factory = http_session.metric_exporter_factory(exporter_class, os.environ)
        super().__init__(factory, export_interval_millis, export_timeout_millis)


class OtlpHttpMetricReader(_ReaderOfEntryPoint):
    exporter_entry_point = "otlp_proto_http"


class OtlpGrpcMetricReader(_ReaderOfEntryPoint):
    exporter_entry_point = "otlp_proto_grpc"


class ConsoleMetricReader(_ReaderOfEntryPoint):
    exporter_entry_point = "console"


READER_ENTRY_POINTS = {
    "otlp_proto_http": "otelbundle_otlp_proto_http",
    "otlp_proto_grpc": "otelbundle_otlp_proto_grpc",
    "console": "otelbundle_console",
}


def _exporter_class(name: str) -> ExporterFactory:
    found = entry_points(group="opentelemetry_metrics_exporter", name=name)
    for point in found:
        exporter_class: ExporterFactory = point.load()
        return exporter_class
    raise RuntimeError(
        f"no metrics exporter {name!r} is installed (entry point opentelemetry_metrics_exporter)"
    )


def fork_safe_exporter_names(env: Mapping[str, str]) -> str | None:
    """OTEL_METRICS_EXPORTER with each covered exporter named by its fork-safe reader; None if unchanged.

    ``otlp`` is resolved by protocol exactly as the SDK resolves it. Names this
    reader does not cover (``prometheus``, a third-party exporter) stay as they are.
    """
    value = env.get("OTEL_METRICS_EXPORTER", "")
    if not value.strip() or value.strip().lower() == "none":
        return None
    names = [name.strip() for name in value.split(",")]
    replaced = [READER_ENTRY_POINTS.get(_sdk_exporter_name(name, env), name) for name in names]
    return ",".join(replaced) if replaced != names else None


def _sdk_exporter_name(name: str, env: Mapping[str, str]) -> str:
    if name != "otlp":
        return name
    protocol = (
        env.get("OTEL_EXPORTER_OTLP_METRICS_PROTOCOL") or env.get("OTEL_EXPORTER_OTLP_PROTOCOL") or ""
    ).strip()
    # The SDK's default for a bare "otlp" is gRPC; an unknown protocol is left for the SDK to reject.
    return {"": "otlp_proto_grpc", "grpc": "otlp_proto_grpc", "http/protobuf": "otlp_proto_http"}.get(
        protocol, name
    )


@contextmanager
def installed_for_sdk_setup(env: MutableMapping[str, str]) -> Iterator[None]:
    """While the SDK's configurator runs: OTEL_METRICS_EXPORTER names this reader's entry points.

    The user's value is back when the block ends (child processes and later
    readers of the variable see what the user set).
    """
    replaced = fork_safe_exporter_names(env)
    if replaced is None:
        yield
        return
    original = env["OTEL_METRICS_EXPORTER"]
    env["OTEL_METRICS_EXPORTER"] = replaced
    try:
        yield
    finally:
        env["OTEL_METRICS_EXPORTER"] = original
