"""What a check result turns into: gauges, one log record per state change, and sinks.

Gauges are observable: the SDK's metric reader calls back and reads the latest
results, so nothing is recorded on the scheduler's hot path and the values
are always the current state.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterable
from typing import Protocol

from opentelemetry import metrics
from opentelemetry.metrics import CallbackOptions, Observation

from otelbundle.config.report import enabled
from otelbundle.health.model import CheckResult, Status
from otelbundle.sdk import forking
from otelbundle.version import __version__

# Renamed from "otelbundle_health": every otelbundle logger is under "otelbundle.".
LOGGER_NAME = "otelbundle.health"
_log = logging.getLogger(LOGGER_NAME)
_LEVELS = {Status.HEALTHY: logging.INFO, Status.DEGRADED: logging.WARNING, Status.FAILING: logging.ERROR}


class ResultSink(Protocol):
    """Receives every check result (on a health thread, never the app's); must not block long."""

    def on_result(self, result: CheckResult) -> None: ...


_sinks: list[ResultSink] = []
_sinks_lock = threading.Lock()


def _reset_sinks_lock() -> None:
    global _sinks_lock
    _sinks_lock = threading.Lock()  # a parent thread may have held it at fork


forking.on_child("health-sinks-lock", _reset_sinks_lock)


def register_sink(sink: ResultSink) -> None:
    """Add a receiver of check results (e.g. the alert engine); idempotent per object."""
    with _sinks_lock:
        if sink not in _sinks:
            _sinks.append(sink)


def unregister_sink(sink: ResultSink) -> None:
    with _sinks_lock:
        if sink in _sinks:
            _sinks.remove(sink)


def sinks() -> list[ResultSink]:
    with _sinks_lock:
        return list(_sinks)


def overall(results: Iterable[CheckResult]) -> Status | None:
    """The worst status of all checks (None before any result)."""
    statuses = [r.status for r in results]
    return min(statuses, key=lambda s: s.value) if statuses else None


class ResultSource(Protocol):
    def results(self) -> list[CheckResult]: ...
    def skipped(self) -> dict[str, int]: ...


class HealthOutputs:
    """Publishes results: state-change logs and sinks now, gauges when the reader collects.

    Create one per process: instruments registered on the global meter cannot be
    removed, so re-instrumenting re-attaches a new scheduler instead.
    """

    def __init__(self, meter_provider: metrics.MeterProvider | None = None) -> None:
        if _log.level == logging.NOTSET:
            # The root logger's default WARNING would drop "is healthy again" records;
            # an explicit level set by the user's logging config is kept.
            _log.setLevel(logging.INFO)
        self._source: ResultSource | None = None
        self._last: dict[str, Status] = {}
        self._lock = threading.Lock()
        meter = metrics.get_meter("otelbundle.health", __version__, meter_provider)
        # Renamed from health.check.status, health.check.duration, health.status and
        # health.check.skipped: every otelbundle metric is under "otelbundle.".
        meter.create_observable_gauge(
            "otelbundle.health.check.status",
            [self._status],
            unit="{status}",
            description="1 healthy, 0.5 degraded, 0 failing",
        )
        meter.create_observable_gauge(
            "otelbundle.health.check.duration",
            [self._duration],
            unit="s",
            description="How long the last run took",
        )
        meter.create_observable_gauge(
            "otelbundle.health.status",
            [self._overall],
            unit="{status}",
            description="Worst status over all checks of this process",
        )
        meter.create_observable_counter(
            "otelbundle.health.check.skipped",
            [self._skipped_runs],
            unit="{run}",
            description="Runs not started because the previous run of the check was still hung",
        )

    def after_fork(self) -> None:
        """In a fork child: a lock held by a parent thread at fork time would never be released."""
        self._lock = threading.Lock()

    def attach(self, source: ResultSource | None) -> None:
        """Report the results of ``source`` (a scheduler); None stops reporting (uninstrument)."""
        with self._lock:
            self._source = source
            self._last.clear()

    def _results(self) -> list[CheckResult]:
        source = self._source
        return source.results() if source is not None else []

    def _skipped(self) -> dict[str, int]:
        source = self._source
        return source.skipped() if source is not None else {}

    def on_result(self, result: CheckResult) -> None:
        if not logging.getLogger().handlers and not _log.handlers:
            # Nothing would export the record yet (start-up still loading the logging
            # instrumentation): leave the state unlogged so the next run reports it.
            self._publish(result)
            return
        with self._lock:
            previous = self._last.get(result.name)
            self._last[result.name] = result.status
        if previous is not result.status:
            enabled(_log).log(
                _LEVELS[result.status],
                "health check %s is %s: %s",
                result.name,
                result.status.label,
                result.message,
                extra={
                    "health.check.name": result.name,
                    "health.check.kind": result.kind,
                    "health.status": result.status.label,
                    "health.previous_status": previous.label if previous else "unknown",
                    **result.attributes,
                },
            )
        self._publish(result)

    def _publish(self, result: CheckResult) -> None:
        for sink in sinks():
            try:
                sink.on_result(result)
            except Exception:
                _log.exception("health result sink %r failed", sink)

    # ---- gauge callbacks (run on the metric reader's thread) -------------
    def _status(self, options: CallbackOptions) -> Iterable[Observation]:
        return [Observation(r.status.value, _attrs(r)) for r in self._results()]

    def _duration(self, options: CallbackOptions) -> Iterable[Observation]:
        return [Observation(r.duration_s, _attrs(r)) for r in self._results()]

    def _overall(self, options: CallbackOptions) -> Iterable[Observation]:
        status = overall(self._results())
        return [] if status is None else [Observation(status.value)]

    def _skipped_runs(self, options: CallbackOptions) -> Iterable[Observation]:
        kinds = {r.name: r.kind for r in self._results()}
        return [
            Observation(count, {"health.check.name": name, "health.check.kind": kinds.get(name, "")})
            for name, count in self._skipped().items()
        ]


def _attrs(result: CheckResult) -> dict[str, str]:
    return {"health.check.name": result.name, "health.check.kind": result.kind}
