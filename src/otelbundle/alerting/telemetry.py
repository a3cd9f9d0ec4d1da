"""Every ``otelbundle.alerting.*`` instrument, and alerts as telemetry: one log record per transition.

All instruments are created on a meter from the meter provider they are given
(:func:`alerting_meter`; the global one when None), as the SDK's own
``ProcessorMetrics`` takes its provider: a test or a second pipeline passes its
own. They are observable where they can be, reading counts the alerting parts
keep anyway, so the span and delivery threads never touch the metrics SDK.

- ``otelbundle.alerting.alerts``: Prometheus' ``ALERTS`` series (:class:`AlertTelemetry`);
- ``otelbundle.alerting.evaluation.duration``: time to evaluate the due rules at a tick;
- ``otelbundle.alerting.evaluation.early``: evaluations between ticks;
- ``otelbundle.alerting.spans.{seen,dropped,overflowed,failed}``: the span processor, and
  ``otelbundle.alerting.logs.{seen,dropped,failed}``: the log intake
  (:func:`register_processor_metrics`);
- ``otelbundle.alerting.notifications.{sent,failed,dropped,retried}``: per channel
  (:func:`register_notification_metrics`), and ``.unrouted`` (:func:`register_routing_metrics`).

The gauge is Prometheus's ``ALERTS`` series (1 per pending or firing alert,
with ``alertname``, ``alertstate`` and the alert's labels). Transition records
go through ``logging`` (exported as OTLP logs by the distro) inside the context
of the alert's exemplar trace, so the record's native trace_id is that trace:
in Loki the alert sits next to the request that caused it.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterable, Mapping
from typing import TYPE_CHECKING, Any, Protocol

from opentelemetry import context as otel_context
from opentelemetry import metrics, trace
from opentelemetry.metrics import CallbackOptions, Observation
from opentelemetry.trace import NonRecordingSpan, SpanContext, TraceFlags

from otelbundle.alerting.alert import AlertState
from otelbundle.alerting.series_cap import DEFAULT_LIMIT, OVERFLOW_ATTRIBUTE, SeriesCap
from otelbundle.config.report import diagnostics_logger, enabled
from otelbundle.version import __version__

if TYPE_CHECKING:
    from otelbundle.alerting.notify.dispatcher import NotificationDispatcher

METER_NAME = "otelbundle.alerting"
# Seconds, 0.1 ms to 2.5 s: an evaluation of a few rules takes a fraction of a millisecond, one
# of many quantile rules over thousands of group keys tens to hundreds.
EVALUATION_BUCKETS = (
    0.0001,
    0.00025,
    0.0005,
    0.001,
    0.0025,
    0.005,
    0.01,
    0.025,
    0.05,
    0.1,
    0.25,
    0.5,
    1.0,
    2.5,
)


def alerting_meter(meter_provider: metrics.MeterProvider | None = None) -> metrics.Meter:
    """The meter every alerting instrument is created on (the global provider when None)."""
    return metrics.get_meter(METER_NAME, __version__, meter_provider)


_log = logging.getLogger("otelbundle.alerting")
_LEVELS = {
    AlertState.PENDING: logging.INFO,
    AlertState.FIRING: logging.WARNING,
    AlertState.INACTIVE: logging.INFO,
}


class AlertTelemetry:
    """Thread-safe; ``enabled=False`` (tests, ``rules test``) records nothing."""

    def __init__(
        self,
        enabled: bool = True,
        meter: metrics.Meter | None = None,
        *,
        meter_provider: metrics.MeterProvider | None = None,
        max_alert_series: int = DEFAULT_LIMIT,
    ) -> None:
        self.enabled = enabled
        self._active: dict[tuple[str, str], list[tuple[dict[str, str], AlertState]]] = {}
        self._lock = threading.Lock()
        self._series = SeriesCap(max_alert_series, _say_series_full)
        self.evaluations = 0
        self.early_evaluations = 0
        if not enabled:
            return
        meter = meter or alerting_meter(meter_provider)
        meter.create_observable_gauge(
            "otelbundle.alerting.alerts",  # renamed from otelbundle.alerts
            callbacks=[self._observe],
            unit="{alert}",
            description="1 per pending or firing alert (Prometheus ALERTS)",
        )
        self._duration = meter.create_histogram(
            "otelbundle.alerting.evaluation.duration",
            unit="s",
            description="time to evaluate all due rules",
            # The SDK's default buckets (0, 5, 10, … 10 000) are for milliseconds: every evaluation,
            # 0.1 ms to a few hundred, fell in the one (0, 5] s bucket and the histogram said nothing.
            explicit_bucket_boundaries_advisory=EVALUATION_BUCKETS,
        )
        meter.create_observable_counter(
            "otelbundle.alerting.evaluation.early",
            callbacks=[lambda options: [Observation(self.early_evaluations)]],
            unit="{evaluation}",
            description="evaluations between interval ticks, on arriving spans or an elapsed `for`",
        )

    def set_active(
        self, rule: tuple[str, str], alerts: Iterable[tuple[Mapping[str, str], AlertState]]
    ) -> None:
        """The rule's pending and firing alerts from now on (none: the rule's entry goes)."""
        listed = [(dict(labels), state) for labels, state in alerts]
        with self._lock:
            if listed:
                self._active[rule] = listed
            else:
                self._active.pop(rule, None)

    def _observe(self, options: CallbackOptions) -> Iterable[Observation]:
        with self._lock:
            snapshot = [item for items in self._active.values() for item in items]
            observed: list[Observation] = []
            overflowed: dict[tuple[str, str], int] = {}
            for labels, state in snapshot:
                attributes = {**labels, "alertstate": state.value}
                if self._series.admit(attributes):
                    observed.append(Observation(1, attributes))
                else:
                    group = (labels.get("alertname", ""), state.value)
                    overflowed[group] = overflowed.get(group, 0) + 1
        return observed + [
            Observation(count, {"alertname": name, "alertstate": state, OVERFLOW_ATTRIBUTE: "true"})
            for (name, state), count in overflowed.items()
        ]

    def evaluated_early(self, seconds: float) -> None:
        """An early evaluation (between ticks); counted, its time not mixed into the ticks' histogram."""
        self.early_evaluations += 1

    def evaluated(self, seconds: float) -> None:
        self.evaluations += 1
        if self.enabled:
            self._duration.record(seconds)

    def transition(
        self, labels: Mapping[str, str], state: AlertState, value: float, trace_id: str, span_id: int = 0
    ) -> None:
        """One record per transition, the state as it is reported (inactive is "resolved"), in
        the exemplar trace at the span ``span_id`` of it. With no span known (0), the trace id
        is an attribute instead: a made-up span id (it was 1) named a span no trace holds."""
        if not self.enabled:
            return
        critical = state is AlertState.FIRING and labels.get("severity") == "critical"
        level = logging.ERROR if critical else _LEVELS[state]
        extra = {
            "alertname": labels.get("alertname", ""),
            "alertstate": state.reported,
            "alert.value": value,
            "alert.labels": ",".join(f"{k}={v}" for k, v in sorted(labels.items())),
        }
        token = None
        if trace_id and span_id:
            span_context = SpanContext(int(trace_id, 16), span_id, is_remote=True, trace_flags=TraceFlags(1))
            token = otel_context.attach(trace.set_span_in_context(NonRecordingSpan(span_context)))
        elif trace_id:
            extra["alert.trace_id"] = trace_id
        try:
            enabled(_log).log(  # an app's dictConfig must not silence its alerts' record
                level,
                "alert %s %s (value %g)",
                labels.get("alertname", ""),
                state.reported,
                value,
                extra=extra,
            )
        finally:
            if token is not None:
                otel_context.detach(token)


def _say_series_full(limit: int) -> None:
    diagnostics_logger().warning(
        "otelbundle: the otelbundle.alerting.alerts gauge has reported %d different alerts; newer ones "
        "are counted together, one series per alert name and state with %s=true (the metrics SDK keeps "
        "every label set it was given for the life of the process).",
        limit,
        OVERFLOW_ATTRIBUTE,
    )


class SpanCounts(Protocol):
    """What the alert rules' span processor counts (:class:`~otelbundle.alerting.processor.AlertingSpanProcessor`)."""

    @property
    def spans_seen(self) -> int: ...
    @property
    def spans_dropped(self) -> int: ...
    @property
    def errors(self) -> int: ...


class LogCounts(Protocol):
    """What the log intake counts (:class:`~otelbundle.alerting.log_intake.LogIntake`)."""

    @property
    def records_seen(self) -> int: ...
    @property
    def records_dropped(self) -> int: ...
    @property
    def errors(self) -> int: ...


class CountedRules(Protocol):
    """The engine as its instruments see it (the engine imports this module, not the reverse)."""

    @property
    def processor(self) -> SpanCounts: ...
    @property
    def log_intake(self) -> LogCounts: ...
    @property
    def states(self) -> Mapping[tuple[str, str], Any]: ...


def register_processor_metrics(engine: CountedRules, meter: metrics.Meter) -> None:
    """Spans seen, dropped from a full queue, folded into overflow groups, and failed on;
    log records seen, dropped from a full queue and failed on."""

    def seen(options: CallbackOptions) -> list[Observation]:
        return [Observation(engine.processor.spans_seen)]

    def overflowed(options: CallbackOptions) -> list[Observation]:
        return [
            Observation(state.overflowed_spans, {"alertname": name})
            for (group, name), state in engine.states.items()
        ]

    def dropped(options: CallbackOptions) -> list[Observation]:
        return [Observation(engine.processor.spans_dropped)]

    def failed(options: CallbackOptions) -> list[Observation]:
        return [Observation(engine.processor.errors)]

    for name, callback, description in (
        ("seen", seen, "Spans handed to the alert rules"),
        ("dropped", dropped, "Spans dropped because the alert rules' queue was full (oldest first)"),
        ("overflowed", overflowed, "Spans folded into a rule's overflow group (too many group-by keys)"),
        ("failed", failed, "Spans whose evaluation by the alert rules raised an error"),
    ):
        meter.create_observable_counter(
            f"otelbundle.alerting.spans.{name}", callbacks=[callback], unit="{span}", description=description
        )

    def logs_seen(options: CallbackOptions) -> list[Observation]:
        return [Observation(engine.log_intake.records_seen)]

    def logs_dropped(options: CallbackOptions) -> list[Observation]:
        return [Observation(engine.log_intake.records_dropped)]

    def logs_failed(options: CallbackOptions) -> list[Observation]:
        return [Observation(engine.log_intake.errors)]

    for name, callback, description in (
        ("seen", logs_seen, "Log records handed to the alert rules' log intake"),
        (
            "dropped",
            logs_dropped,
            "Log records dropped because the log intake's queue was full (oldest first)",
        ),
        ("failed", logs_failed, "Log records whose intake by the alert rules raised an error"),
    ):
        meter.create_observable_counter(
            f"otelbundle.alerting.logs.{name}", callbacks=[callback], unit="{record}", description=description
        )


def register_notification_metrics(dispatcher: NotificationDispatcher, meter: metrics.Meter) -> None:
    """Expose the per-channel stats of ``dispatcher`` on ``meter``: attributes ``notifier`` (the
    channel's kind: webhook, slack, ...) and ``channel`` (its name).

    Renamed from ``otelbundle.notifications.*``: every alerting metric is under ``otelbundle.alerting``.
    """

    def callback(field: str) -> Callable[[CallbackOptions], Iterable[Observation]]:
        def observe(options: CallbackOptions) -> Iterable[Observation]:
            return [
                Observation(getattr(stats, field), {"notifier": channel.kind, "channel": channel.name})
                for channel, stats in dispatcher.channel_stats()
            ]

        return observe

    for field, what in (
        ("sent", "batches delivered"),
        ("failed", "batches given up (4xx or retries exhausted)"),
        ("dropped", "batches dropped because the channel's queue was full (oldest first)"),
        ("retried", "delivery attempts retried after a 5xx, 429, timeout or connection error"),
    ):
        meter.create_observable_counter(
            f"otelbundle.alerting.notifications.{field}",
            callbacks=[callback(field)],
            unit="{batch}",
            description=what,
        )
    # The alerts in those batches: a dispatch cut into requests (chunks.py) may be partly
    # delivered, which one batch counted as failed does not say. New names, so the batch
    # series keep their meaning for dashboards that read them.
    for field, what in (
        ("sent", "alerts delivered"),
        ("failed", "alerts given up (a refused request, or retries exhausted)"),
        ("dropped", "alerts in batches dropped because the channel's queue was full"),
    ):
        meter.create_observable_counter(
            f"otelbundle.alerting.notifications.alerts.{field}",
            callbacks=[callback(f"alerts_{field}")],
            unit="{alert}",
            description=what,
        )


def register_routing_metrics(dispatcher: NotificationDispatcher, meter: metrics.Meter) -> None:
    """The alerts no channel's ``match:`` took (``otelbundle.alerting.notifications.unrouted``)."""
    meter.create_observable_counter(
        "otelbundle.alerting.notifications.unrouted",
        callbacks=[lambda options: [Observation(dispatcher.unrouted)]],
        unit="{alert}",
        description="alerts sent by the rules that no channel's match: took",
    )
