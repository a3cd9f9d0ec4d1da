"""A periodic metric reader that survives ``fork()``: every forked child exports its own metrics.

The SDK's ``PeriodicExportingMetricReader`` restarts its thread in a forked child
but keeps everything else the parent had at the instant of the fork
(opentelemetry-python #3307, #4345):

* its export lock, held for the whole export while the parent waits on the
  collector: a child forked then blocks on it for ever and never exports;
* the SDK's metric storage locks, held by a collect in progress: the child's
  collect (and an app thread recording a new attribute set) can block for ever;
* the exporter and its HTTP connection pool: a child that sends on a pooled
  keep-alive socket shares it with the parent, and the two read each other's
  answers.

This reader, built on the public ``MetricReader`` base class, handles each:

* **before fork** (``os.register_at_fork(before=…)``) it waits for a collect in
  progress to finish and holds new ones off until the fork is done, so no SDK
  storage lock is held by its thread when the process is copied. It waits for
  the *collect* only, never for the export, so a slow collector does not delay
  a fork; the wait is bounded by the export timeout, the deadline the collect
  itself has. A reader that collects deltas then collects once more, and the
  parent's thread exports that later: what the parent recorded since its last
  collect is otherwise still in the storage the child inherits, and the child
  exported it a second time. That collect runs the observable callbacks, so it
  has a thread of its own and the fork waits for it no longer than the export
  timeout;
* **in the child** its locks, its stop event and its thread are new, and the
  exporter is rebuilt from its factory before the child's first export (the
  inherited one, with the parent's sockets, is left untouched: closing it could
  disturb the parent's connections). A child forked while a collect was stuck
  past that bound says so once and exports no metrics, rather than risk a
  deadlock;
* **shutdown** waits for nothing without a deadline: its thread and the
  exporter get what is left of ``timeout_millis``.

What it cannot cover: an app thread of the parent inside the SDK's recording
path at the instant of the fork (microseconds), and another reader's collect
(e.g. a Prometheus pull) in progress then. Both need the SDK itself to reset its
locks after fork.

``OTEL_METRIC_EXPORT_INTERVAL`` and ``OTEL_METRIC_EXPORT_TIMEOUT`` mean what they
mean for the SDK's reader: the wait between the end of one export and the next
collect, and the deadline for one collect plus export.

Each export's result is counted where :func:`count_exports_with` says (the
distro's drop report), from what ``export`` returns or raises: the exporter's
log lines cannot be relied on for that (the OTLP gRPC exporter's logger drops a
message repeated within 20 s, and all three signals log the same text there).
"""

from __future__ import annotations

import logging
import math
import os
import threading
import time
import weakref
from collections.abc import Callable
from typing import Any

from opentelemetry.instrumentation.utils import suppress_instrumentation
from opentelemetry.sdk.metrics import MetricsTimeoutError
from opentelemetry.sdk.metrics.export import (
    AggregationTemporality,
    MetricExporter,
    MetricExportResult,
    MetricReader,
    MetricsData,
)
from opentelemetry.semconv._incubating.attributes.otel_attributes import OtelComponentTypeValues

_logger = logging.getLogger(__name__)

ExporterFactory = Callable[[], MetricExporter]
# Runs one export (the callable: True on success) and counts its result; returns that result.
ExportCounter = Callable[[Callable[[], bool]], bool]

# What an export hands the exporter instead of the collected data (secret scrubbing).
ExportStep = Callable[[MetricsData], MetricsData]

# Collections made at forks and not exported yet, at most (a fork storm within one
# interval); past that a fork does not collect, and its child may export again what
# the parent recorded since the last of them.
MAX_COLLECTED_AT_FORKS = 64

_count: ExportCounter | None = None
_step: ExportStep | None = None


def count_exports_with(counter: ExportCounter | None) -> None:
    """Every reader of this process hands its exports to ``counter`` from now on (None: uncounted).

    Process-wide, because the SDK's configurator builds the reader from an entry
    point with no argument to pass a report through.
    """
    global _count
    _count = counter


def scrub_exports_with(step: ExportStep | None) -> None:
    """Every reader of this process exports ``step(data)`` from now on (None: the data as collected).

    Process-wide for the reason ``count_exports_with`` is. A step that raises costs
    that export (counted as failed), never sends the data unscrubbed.
    """
    global _step
    _step = step


class ForkSafeMetricReader(MetricReader):
    """Collects every interval and hands the data to an exporter made by ``exporter_factory``.

    The factory, not an exporter instance, because a forked child needs an
    exporter of its own (its own connections) built the same way.
    """

    _gate_owner: int | None  # the thread inside a gated collect

    def __init__(
        self,
        exporter_factory: ExporterFactory,
        export_interval_millis: float | None = None,
        export_timeout_millis: float | None = None,
    ) -> None:
        exporter = exporter_factory()
        super().__init__(
            # The exporter's preferences are the reader's, as for the SDK's periodic reader.
            preferred_temporality=exporter._preferred_temporality,
            preferred_aggregation=exporter._preferred_aggregation,
            otel_component_type=OtelComponentTypeValues.PERIODIC_METRIC_READER,
        )
        self._factory = exporter_factory
        preferred = exporter._preferred_temporality or {}
        self._collects_deltas = AggregationTemporality.DELTA in preferred.values()
        self._collected_at_forks: list[MetricsData] = []  # the parent's, exported by its next export
        self._exporter = exporter
        self._exporter_pid = os.getpid()
        self._left_behind: list[MetricExporter] = []  # inherited exporters a child must not touch
        self._interval_s = (
            _millis_from_env("OTEL_METRIC_EXPORT_INTERVAL", export_interval_millis, 60_000) / 1e3
        )
        self._timeout_s = _millis_from_env("OTEL_METRIC_EXPORT_TIMEOUT", export_timeout_millis, 30_000) / 1e3
        if self._interval_s <= 0:
            raise ValueError(f"export interval {self._interval_s * 1e3:g} ms is invalid: it must be above 0")
        self._new_locks()
        self._shut_down = False
        self._disabled_reason: str | None = None
        self._pending: MetricsData | None = None
        self._final_deadline: float | None = None
        self._held_for_fork = False
        self._thread: threading.Thread | None = None
        if math.isfinite(self._interval_s):
            self._start_thread()
        _register_fork_hooks(self)

    # ---- the periodic loop ----------------------------------------------------
    def _start_thread(self) -> None:
        if not math.isfinite(self._interval_s):
            return
        self._thread = threading.Thread(target=self._run, name="OtelBundleMetricReader", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        stop = self._stop  # this thread's event: a child gets a new one and a new thread
        while not stop.wait(self._interval_s):
            self._collect_and_export(time.monotonic() + self._timeout_s)
        # One last collection when shutdown asks for it, within shutdown's deadline.
        self._collect_and_export(self._final_deadline or time.monotonic() + self._timeout_s)

    def _collect_and_export(self, deadline: float) -> bool:
        """One collect (under the gate the fork hook waits on), then its export (outside it)."""
        if self._disabled_reason is not None:
            return False
        try:
            return all([self._export(data, deadline) for data in self._collect_gated(deadline)])
        except Exception:  # the thread must survive whatever an exporter or callback raises
            _logger.exception("Exception while exporting metrics")
            return False

    def _collect_gated(self, deadline: float) -> list[MetricsData]:
        """What to export: the collections made at forks since the last call, then this one."""
        gate = self._gate
        if not gate.acquire(timeout=_remaining(deadline)):
            _logger.warning("Metric collection skipped: the previous one is still running.")
            return []
        try:
            # Taken under the gate: a collect at a fork adds to the list while it holds the gate.
            collected, self._collected_at_forks = self._collected_at_forks, []
            self._gate_owner = threading.get_ident()
            try:
                self.collect(timeout_millis=_remaining(deadline) * 1e3)
            except MetricsTimeoutError:
                _logger.warning("Metric collection timed out; trying again in %g s.", self._interval_s)
            data, self._pending = self._pending, None
            return collected if data is None else [*collected, data]
        finally:
            self._gate_owner = None
            gate.release()

    def _receive_metrics(
        self, metrics_data: MetricsData, timeout_millis: float = 10_000, **kwargs: Any
    ) -> None:
        if self._gate_owner == threading.get_ident():
            self._pending = metrics_data  # exported by _collect_and_export once the gate is open
        else:  # someone called collect() directly: export now, as the SDK's reader does
            self._export(metrics_data, time.monotonic() + timeout_millis / 1e3)

    def _export(self, data: MetricsData, deadline: float) -> bool:
        lock = self._export_lock
        if not lock.acquire(timeout=_remaining(deadline)):
            _logger.warning("Metrics export skipped: the previous export is still running.")
            return False
        try:
            exporter = self._exporter_of_this_process()
            step = _step

            def send() -> bool:
                sent = data if step is None else step(data)
                result = exporter.export(sent, timeout_millis=_remaining(deadline) * 1e3)
                return bool(result is MetricExportResult.SUCCESS)

            count = _count
            with suppress_instrumentation():  # the exporter's own HTTP calls are not app telemetry
                return send() if count is None else count(send)
        except Exception:
            _logger.exception("Exception while exporting metrics")
            return False
        finally:
            lock.release()

    def _exporter_of_this_process(self) -> MetricExporter:
        """The exporter, rebuilt on first use in a forked child (its connections are the parent's)."""
        if self._exporter_pid != os.getpid():
            self._left_behind.append(self._exporter)
            self._exporter = self._factory()
            self._exporter_pid = os.getpid()
        return self._exporter

    # ---- MetricReader ---------------------------------------------------------
    def force_flush(self, timeout_millis: float = 10_000) -> bool:
        if self._shut_down:
            return False
        deadline = time.monotonic() + timeout_millis / 1e3
        exported = self._collect_and_export(deadline)
        if self._exporter_pid == os.getpid():
            exported = self._exporter.force_flush(timeout_millis=_remaining(deadline) * 1e3) and exported
        return exported

    def shutdown(self, timeout_millis: float = 30_000, **kwargs: Any) -> None:
        deadline = time.monotonic() + timeout_millis / 1e3
        with self._state_lock:
            if self._shut_down:
                _logger.warning("Can't shutdown multiple times")
                return
            self._shut_down = True
        self._final_deadline = deadline
        self._stop.set()
        if self._thread is not None and self._thread.is_alive():
            self._thread.join(_remaining(deadline))
        elif self._thread is None:  # no periodic thread (infinite interval): collect once here
            self._collect_and_export(deadline)
        if self._exporter_pid == os.getpid():  # a child that never exported has nothing of its own
            self._exporter.shutdown(timeout_millis=_remaining(deadline) * 1e3)

    # ---- fork -----------------------------------------------------------------
    def _new_locks(self) -> None:
        self._gate = threading.Lock()  # held while the SDK's storage locks may be taken
        self._gate_owner = None
        self._export_lock = threading.Lock()  # one export at a time, as the specification asks
        self._state_lock = threading.Lock()
        self._stop = threading.Event()

    def _before_fork(self) -> None:
        """Wait for a collect in progress (bounded) and keep new ones out until the fork is done."""
        if self._gate_owner == threading.get_ident():  # forking from inside our own collect
            self._held_for_fork = False
            return
        self._held_for_fork = self._gate.acquire(timeout=min(self._timeout_s, threading.TIMEOUT_MAX))
        if self._held_for_fork and self._collects_deltas:
            self._collect_for_fork()

    def _collect_for_fork(self) -> None:
        """Take the parent's uncollected deltas out of the storage the child inherits (gate held).

        The collect runs the observable callbacks, so it runs on a thread of its own
        and the fork waits for it no longer than a collect may take. One that takes
        longer keeps the gate and releases it when it ends; the fork goes on without
        it, and its child, whose storage locks that thread may hold, exports no metrics.
        """
        if self._shut_down or self._disabled_reason is not None or getattr(self, "_collect", None) is None:
            return
        if len(self._collected_at_forks) >= MAX_COLLECTED_AT_FORKS:
            return
        collect = _CollectForFork(self)
        thread = threading.Thread(target=collect.run, name="OtelBundleMetricReaderFork", daemon=True)
        thread.start()
        if not collect.finished_within(self._timeout_s):
            self._held_for_fork = False  # the collect's thread releases the gate when it ends

    def _after_fork_in_parent(self) -> None:
        if self._held_for_fork:
            self._held_for_fork = False
            self._gate.release()

    def _after_fork_in_child(self) -> None:
        held, self._held_for_fork = self._held_for_fork, False
        forked_inside_collect = self._gate_owner == threading.get_ident()
        self._new_locks()
        self._pending = None
        self._collected_at_forks = []  # the parent exports them
        if self._shut_down or self._disabled_reason is not None:
            return
        if not held and not forked_inside_collect:
            self._disabled_reason = (
                f"forked while a metric collection had been running for more than {self._timeout_s:g} s"
            )
            _logger.error(
                "otelbundle: process %d exports no metrics: it was %s, so the SDK's metric locks may be "
                "held by a thread that does not exist here. Its spans and logs are not affected.",
                os.getpid(),
                self._disabled_reason,
            )
            return
        self._start_thread()


class _CollectForFork:
    """One collect before a fork, and who releases the gate after it: the fork, or this collect if late."""

    def __init__(self, reader: ForkSafeMetricReader) -> None:
        self._reader = reader
        self._state = threading.Lock()
        self._ended = False
        self._late = False  # the fork went on without this collect
        self._done = threading.Event()

    def run(self) -> None:
        reader = self._reader
        reader._gate_owner = threading.get_ident()
        try:
            reader.collect(timeout_millis=reader._timeout_s * 1e3)
        except Exception:  # what a callback raises must not end the collect's bookkeeping
            _logger.exception("otelbundle: metric collection before fork failed")
        finally:
            reader._gate_owner = None
            data, reader._pending = reader._pending, None
            if data is not None:
                reader._collected_at_forks.append(data)
            with self._state:
                self._ended = True
                late = self._late
            self._done.set()
            if late:
                reader._gate.release()

    def finished_within(self, seconds: float) -> bool:
        """Wait for the collect; False: it is late, and it releases the gate itself when it ends."""
        if self._done.wait(min(seconds, threading.TIMEOUT_MAX)):
            return True
        with self._state:
            self._late = not self._ended
            return not self._late


def _register_fork_hooks(reader: ForkSafeMetricReader) -> None:
    """Fork hooks that hold the reader weakly (a hook cannot be unregistered)."""
    if not hasattr(os, "register_at_fork"):
        return
    ref = weakref.ref(reader)

    def call(method: Callable[[ForkSafeMetricReader], None]) -> Callable[[], None]:
        def hook() -> None:
            target = ref()
            if target is not None:
                try:
                    method(target)
                except Exception:  # a fork hook must never break the app's fork
                    _logger.exception("otelbundle: metric reader fork hook failed")

        return hook

    os.register_at_fork(
        before=call(ForkSafeMetricReader._before_fork),
        after_in_parent=call(ForkSafeMetricReader._after_fork_in_parent),
        after_in_child=call(ForkSafeMetricReader._after_fork_in_child),
    )


def _millis_from_env(name: str, given: float | None, default: float) -> float:
    if given is not None:
        return given
    try:
        return float(os.environ.get(name, default))
    except ValueError:
        _logger.warning("Found invalid value for %s, using %g", name, default)
        return default


def _remaining(deadline: float) -> float:
    """Seconds left, as a lock timeout accepts them (an infinite deadline is TIMEOUT_MAX)."""
    return min(max(0.0, deadline - time.monotonic()), threading.TIMEOUT_MAX)
