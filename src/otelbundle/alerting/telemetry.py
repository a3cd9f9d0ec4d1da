"""Alerts as telemetry: the ``otelbundle.alerting.alerts`` gauge, one log record per transition, self-metrics.

The gauge is Prometheus's ``ALERTS`` series (1 per pending or firing alert,
with ``alertname``, ``alertstate`` and the alert's labels). Transition records
go through ``logging`` (exported as OTLP logs by the distro) inside the context
of the alert's exemplar trace, so the record's native trace_id is that trace:
in Loki the alert sits next to the request that caused it.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterable, Mapping

from opentelemetry import context as otel_context
from opentelemetry import metrics, trace
from opentelemetry.metrics import CallbackOptions, Observation
from opentelemetry.trace import NonRecordingSpan, SpanContext, TraceFlags

from otelbundle.alerting.alert import AlertState

_log = logging.getLogger("otelbundle.alerting")
_LEVELS = {
    AlertState.PENDING: logging.INFO,
    AlertState.FIRING: logging.WARNING,
    AlertState.INACTIVE: logging.INFO,
}


class AlertTelemetry:
    """Thread-safe; ``enabled=False`` (tests, ``rules test``) records nothing."""

    def __init__(self, enabled: bool = True, meter: metrics.Meter | None = None) -> None:
        self.enabled = enabled
        self._active: dict[tuple[str, str], list[tuple[dict[str, str], AlertState]]] = {}
        self._lock = threading.Lock()
        self.evaluations = 0
        if not enabled:
            return
        meter = meter or metrics.get_meter("otelbundle.alerting")
        meter.create_observable_gauge(
            "otelbundle.alerting.alerts",  # renamed from otelbundle.alerts
            callbacks=[self._observe],
            unit="{alert}",
            description="1 per pending or firing alert (Prometheus ALERTS)",
        )
        self._duration = meter.create_histogram(
            "otelbundle.alerting.evaluation.duration", unit="s", description="time to evaluate all due rules"
        )

    def set_active(
        self, rule: tuple[str, str], alerts: Iterable[tuple[Mapping[str, str], AlertState]]
    ) -> None:
        with self._lock:
            self._active[rule] = [(dict(labels), state) for labels, state in alerts]

    def _observe(self, options: CallbackOptions) -> Iterable[Observation]:
        with self._lock:
            snapshot = [item for items in self._active.values() for item in items]
        return [Observation(1, {**labels, "alertstate": state.value}) for labels, state in snapshot]

    def evaluated(self, seconds: float) -> None:
        self.evaluations += 1
        if self.enabled:
            self._duration.record(seconds)

    def transition(self, labels: Mapping[str, str], state: AlertState, value: float, trace_id: str) -> None:
        """One record per transition, the state as it is reported (inactive is "resolved")."""
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
        if trace_id:
            span_context = SpanContext(int(trace_id, 16), 1, is_remote=True, trace_flags=TraceFlags(1))
            token = otel_context.attach(trace.set_span_in_context(NonRecordingSpan(span_context)))
        try:
            _log.log(
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
