"""The ``opentelemetry_configurator`` entry point.

Initialises the SDK through its own configurator, adding our parts only through
the keyword arguments it supports: ``span_processors`` (alert rules),
``sampler`` (record-everything wrapper for rules), ``export_span_processor`` /
``export_log_record_processor`` (secret scrubbing and drop accounting around
the real exporters),
``log_record_processors`` and ``resource_attributes``. Whatever fails in our
parts is reported and left out; the SDK is still configured.
"""

from __future__ import annotations

import importlib
import logging
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from opentelemetry.sdk._configuration import _OTelSDKConfigurator
from opentelemetry.sdk._logs import LogRecordProcessor
from opentelemetry.sdk._logs.export import LogRecordExporter
from opentelemetry.sdk.trace import SpanProcessor
from opentelemetry.sdk.trace.export import SpanExporter

from otelbundle import logs, runtime, sampling, scrub, settings
from otelbundle.export_counting import BoundedLogProcessor, BoundedSpanProcessor
from otelbundle.exporting import (
    DropReport,
    ExportLogFold,
    diagnostics_logger,
    metric_export_logger_names,
    sdk_logger_names,
)
from otelbundle.sdk import metric_reader_entry_points

_log = logging.getLogger("otelbundle")


@dataclass
class Components:
    """Our additions to the SDK's configuration, plus what to stop at exit."""

    kwargs: dict[str, Any]
    runtime: runtime.Runtime
    fold: ExportLogFold
    span_processors: list[SpanProcessor] = field(default_factory=list)


def otlp_endpoint(env: Mapping[str, str]) -> str:
    explicit = env.get("OTEL_EXPORTER_OTLP_ENDPOINT", "").strip()
    if explicit:
        return explicit
    grpc = env.get("OTEL_EXPORTER_OTLP_PROTOCOL", "http/protobuf").strip() == "grpc"
    return "http://localhost:4317" if grpc else "http://localhost:4318"


def build_components(env: Mapping[str, str]) -> Components:
    report = DropReport(endpoint=otlp_endpoint(env))
    fold = ExportLogFold(report)
    state = runtime.Runtime(report=report, shutdown_timeout=settings.shutdown_timeout(env))
    # Secrets are scrubbed from copies handed to each exporter (docs/secrets.md).
    scrubber = scrub.build_scrubber(settings.config_path(env), env)

    def export_spans(exporter: SpanExporter) -> SpanProcessor:
        if scrubber is not None:
            exporter = scrub.ScrubbingSpanExporter(exporter, scrubber)
        fold.attach(sdk_logger_names())  # the exporter's modules are imported by now
        return BoundedSpanProcessor(exporter, report, fold)

    def export_logs(exporter: LogRecordExporter) -> LogRecordProcessor:
        if scrubber is not None:
            exporter = scrub.ScrubbingLogExporter(exporter, scrubber)
        fold.attach(sdk_logger_names())
        return BoundedLogProcessor(exporter, report, fold)

    kwargs: dict[str, Any] = {
        "export_span_processor": export_spans,
        "export_log_record_processor": export_logs,
        "log_record_processors": [logs.CorrelationFieldStripper()],
        "resource_attributes": settings.distro_resource_attributes(env),
    }
    components = Components(kwargs=kwargs, runtime=state, fold=fold)
    _add_config_file_parts(components, env)
    if components.span_processors:
        kwargs["span_processors"] = components.span_processors
    return components


def _add_config_file_parts(components: Components, env: Mapping[str, str]) -> None:
    """Alert rules from OTELBUNDLE_CONFIG / ./otelbundle.yaml; never raises."""
    path = settings.config_path(env)
    if path is None:
        return
    if not os.access(path, os.R_OK):
        reason = "does not exist" if not os.path.exists(path) else "is not readable"
        diagnostics_logger().error(
            "otelbundle: OTELBUNDLE_CONFIG=%s %s; alert rules and health checks are off, telemetry continues.",
            path,
            reason,
        )
        return
    try:
        build_alerting = importlib.import_module("otelbundle.alerting").build_alerting
    except (ImportError, AttributeError):
        return
    try:
        setup = build_alerting(path, env)
    except Exception:
        _log.exception("otelbundle: alert rules from %s could not be set up; continuing without them.", path)
        return
    if setup is None:
        return
    components.span_processors.extend(setup.span_processors)
    components.runtime.stoppers.append(setup.shutdown)
    _feed_health_results_to(setup.span_processors)
    if setup.see_unsampled_spans:
        components.kwargs["sampler"] = sampling.record_everything(env)


def _feed_health_results_to(processors: list[SpanProcessor]) -> None:
    """Health check results reach the alert rules as `health <check>` spans (never exported)."""
    try:
        register = importlib.import_module("otelbundle.health").register_span_processor
        for processor in processors:
            register(processor)
    except Exception:
        _log.warning("otelbundle: health check results will not reach alert rules", exc_info=True)


class OtelBundleConfigurator(_OTelSDKConfigurator):
    """Registered as the ``otelbundle`` configurator; see the module docstring."""

    def _configure(self, **kwargs: Any) -> None:
        try:
            components = build_components(os.environ)
        except Exception:
            _log.exception("otelbundle: could not prepare its additions; configuring the plain SDK.")
            super()._configure(**kwargs)  # type: ignore[no-untyped-call]
            return
        merged = {**components.kwargs, **kwargs}  # explicit arguments from the caller win
        with metric_reader_entry_points.installed_for_sdk_setup(os.environ):  # fork-safe metric reader
            super()._configure(**merged)  # type: ignore[no-untyped-call]
        components.fold.attach(sdk_logger_names())
        components.fold.attach(metric_export_logger_names(os.environ), metric_export=True)
        components.runtime.register_exit_handler()
        if settings.flag(os.environ, "OTELBUNDLE_FLUSH_ON_SIGTERM", default=True):
            components.runtime.flush_on_sigterm()
        runtime.set_current(components.runtime)
