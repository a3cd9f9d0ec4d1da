"""The ``opentelemetry_configurator`` entry point.

Initialises the SDK through its own configurator, adding our parts only through
the keyword arguments it supports: ``span_processors`` (alert rules),
``sampler`` (record-everything wrapper for rules), ``export_span_processor`` /
``export_log_record_processor`` (secret scrubbing and drop accounting around
the real exporters), ``log_record_processors`` (the log translator's flush, the
correlation fields' removal), ``exporter_args_map`` (fork-aware HTTP sessions)
and ``resource_attributes``.
``otelbundle.yaml`` is read once, here, and each part is given its section.
Whatever fails in our parts is reported and left out; the SDK is still configured.
"""

from __future__ import annotations

import functools
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
from opentelemetry.sdk.trace.sampling import ALWAYS_ON, AlwaysRecordSampler, ParentBased, Sampler

from otelbundle import scrub
from otelbundle.alerting.manager import start_alerting
from otelbundle.alerting.section import alerting_config_at_start
from otelbundle.config import environment
from otelbundle.config.document import ConfigDocument, read_at_start
from otelbundle.config.report import diagnostics_logger
from otelbundle.distro import runtime
from otelbundle.health import register_span_processor
from otelbundle.health import section as _health_section  # noqa: F401  declares health: before the file is read
from otelbundle.sdk import metric_reader, metric_reader_entry_points, sampling
from otelbundle.sdk.export import http_session
from otelbundle.sdk.export.bounded import Accounting, BoundedSpanProcessor
from otelbundle.sdk.export.header_warning import hide_header_values
from otelbundle.sdk.export.log_batch import LogBatchProcessor
from otelbundle.sdk.export.report import (
    DropReport,
    ExportLogFold,
    metric_export_logger_names,
    sdk_logger_names,
)
from otelbundle.sdk.export.resource_once import HashOnceSpans
from otelbundle.sdk.export.wrapper import count_export
from otelbundle.sdk.logs import correlation, deferred

_log = logging.getLogger("otelbundle")


@dataclass
class Components:
    """Our additions to the SDK's configuration, plus what to stop at exit."""

    kwargs: dict[str, Any]
    runtime: runtime.Runtime
    fold: ExportLogFold
    span_processors: list[SpanProcessor] = field(default_factory=list)
    deferred_logs: deferred.DeferredLogs | None = None
    scrub_metrics: metric_reader.ExportStep | None = None


def build_components(env: Mapping[str, str]) -> Components:
    """Our parts, each given its section of ``otelbundle.yaml``, which is read here once."""
    hide_header_values()  # the exporters parse their headers after this, and may warn quoting one
    report = DropReport(
        endpoint=environment.otlp_endpoint(env),
        endpoints={
            shown: environment.otlp_endpoint(env, signal)
            for shown, signal in (("spans", "traces"), ("logs", "logs"), ("metrics", "metrics"))
        },
    )
    fold = ExportLogFold(report)
    accounting = Accounting(report, fold)
    state = runtime.Runtime(report=report, shutdown_timeout=environment.shutdown_timeout(env))
    document = read_at_start(env)  # None without a (readable) file; the health instrumentor reuses it
    # Secrets are scrubbed from copies handed to each exporter (docs/secrets.md).
    scrubber = scrub.build_scrubber(scrub.scrub_settings_at_start(document, env))

    def export_spans(exporter: SpanExporter) -> SpanProcessor:
        fold.attach(sdk_logger_names())  # the exporter's modules are imported by now
        # Spans reach the encoder with a resource whose hash is computed once (resource_once.py);
        # with scrubbing on, in the scrubbed copy.
        step = scrub.span_step(scrubber, hash_resources=True) if scrubber is not None else HashOnceSpans()
        processor = BoundedSpanProcessor(exporter, accounting, step)
        report.holding("spans", lambda: processor.backlog.pending)  # counted if the exit flush runs out
        return processor

    def export_logs(exporter: LogRecordExporter) -> LogRecordProcessor:
        fold.attach(sdk_logger_names())
        step = scrub.log_step(scrubber) if scrubber is not None else None
        processor = LogBatchProcessor(exporter, report, fold, step)
        report.holding("logs", lambda: processor.pending)
        return processor

    # `logging` records are translated on a thread of ours (otelbundle.sdk.logs.deferred); its
    # processor is first, so a flush drains the capture queue before the export flushes.
    deferred_logs = deferred.DeferredLogs(report, environment.queue_size(env, "OTEL_BLRP_MAX_QUEUE_SIZE"))
    report.holding("logs", lambda: deferred_logs.pending + deferred_logs.late)  # late: after the flush began
    kwargs: dict[str, Any] = {
        "export_span_processor": export_spans,
        "export_log_record_processor": export_logs,
        "log_record_processors": [
            deferred.DeferredLogsProcessor(deferred_logs),
            correlation.CorrelationFieldStripper(),
        ],
        "resource_attributes": environment.distro_resource_attributes(env),
    }
    # OTLP/HTTP span and log exporters get a session a forked child does not share (http_session.py).
    sessions = http_session.exporter_args(env, report.rejected_by_collector)
    if sessions:
        kwargs["exporter_args_map"] = sessions
    components = Components(
        kwargs=kwargs,
        runtime=state,
        fold=fold,
        deferred_logs=deferred_logs,
        scrub_metrics=scrub.MetricsScrub(scrubber) if scrubber is not None else None,
    )
    if document is not None:
        # Notifications leave the process without the exporters' scrubbing step: their
        # evidence is scrubbed too, with the built-in rules even when exports are not.
        try:
            _add_alert_rules(components, document, env, scrubber or scrub.Scrubber(hook=scrub.current_hook()))
        except BaseException:
            _stop_started(components)  # the caller configures the plain SDK: no engine thread left behind
            raise
    if components.span_processors:
        kwargs["span_processors"] = components.span_processors
    return components


def _add_alert_rules(
    components: Components, document: ConfigDocument, env: Mapping[str, str], scrubber: scrub.Scrubber
) -> None:
    """The ``alerting:`` section's rules as a span processor; never raises."""
    try:
        config = alerting_config_at_start(document, env)  # problems: logged there
        if config is None:
            return
        manager = start_alerting(config, env, scrubber=scrubber)
    except Exception:
        _log.exception(
            "otelbundle: alert rules from %s could not be set up; continuing without them.", document.path
        )
        return
    components.runtime.stoppers.append(manager.shutdown)  # first: a failure below can still stop it
    components.span_processors.extend(manager.span_processors)
    # Log records reach the rules' evidence (and later log rules) only when alerting is on.
    components.kwargs["log_record_processors"] = [
        *components.kwargs.get("log_record_processors", []),
        *manager.log_record_processors,
    ]
    if components.deferred_logs is not None:
        # A failing request's log lines wait in the translator's queue when its span ends.
        manager.take_logs_first_from(components.deferred_logs.drain)
    for processor in manager.span_processors:
        register_span_processor(processor)  # health results reach the rules as `health <check>` spans
    if manager.see_unsampled_spans:
        components.kwargs["sampler"] = _record_everything(env)


def _record_everything(env: Mapping[str, str]) -> Sampler:
    """The user's sampler made to record every span; the SDK's default one if it cannot be built.

    Rebuilding the user's sampler can raise (``TraceIdRatioBased(1.5)`` when the
    distro's environment check did not run, a sampler entry point of theirs). That
    must cost the sampler only: scrubbing, alert rules and the bounded processors stay.
    """
    try:
        return sampling.record_everything(env)
    except Exception as error:
        diagnostics_logger().warning(
            "otelbundle: could not build the sampler OTEL_TRACES_SAMPLER=%r OTEL_TRACES_SAMPLER_ARG=%r "
            "(%s: %s); using parentbased_always_on, the SDK's default.",
            environment.get(env, "OTEL_TRACES_SAMPLER"),
            environment.get(env, "OTEL_TRACES_SAMPLER_ARG"),
            type(error).__name__,
            error,
        )
        return AlwaysRecordSampler(ParentBased(ALWAYS_ON))


def _stop_started(components: Components) -> None:
    """Stop what building the components already started (the alert engine's thread)."""
    components.runtime.run_stoppers()


class OtelBundleConfigurator(_OTelSDKConfigurator):
    """Registered as the ``otelbundle`` configurator; see the module docstring."""

    def _configure(self, **kwargs: Any) -> None:
        if environment.sdk_disabled(os.environ):
            # The specification's switch: the API's no-op providers stay, and none of our
            # threads, queues, alert rules or exit handlers start.
            return
        try:
            components = build_components(os.environ)
        except Exception:
            _log.exception("otelbundle: could not prepare its additions; configuring the plain SDK.")
            super()._configure(**kwargs)  # type: ignore[no-untyped-call]
            return
        merged = {**components.kwargs, **kwargs}  # explicit arguments from the caller win
        if "exporter_args_map" in kwargs and "exporter_args_map" in components.kwargs:
            # ...and a session the caller gives an exporter is kept; ours go where there is none.
            merged["exporter_args_map"] = http_session.merged_exporter_args(
                components.kwargs["exporter_args_map"], kwargs["exporter_args_map"]
            )
        # The fork-safe metric reader counts each export's result itself, as the span and log paths do.
        report, fold = components.runtime.report, components.fold
        metric_reader.count_exports_with(functools.partial(count_export, report, fold, "metrics", 0))
        metric_reader.scrub_exports_with(components.scrub_metrics)
        with metric_reader_entry_points.installed_for_sdk_setup(os.environ):  # fork-safe metric reader
            super()._configure(**merged)  # type: ignore[no-untyped-call]
        components.fold.attach(sdk_logger_names())
        components.fold.attach(metric_export_logger_names(os.environ), metric_export=True)
        if any(
            isinstance(p, deferred.DeferredLogsProcessor) for p in merged.get("log_record_processors", ())
        ):
            deferred.set_current(components.deferred_logs)  # the OTLP handler's filter captures for it
        components.runtime.register_exit_handler()
        if environment.flag(os.environ, "OTELBUNDLE_FLUSH_ON_SIGTERM"):
            components.runtime.flush_on_sigterm()
        runtime.set_current(components.runtime)
