"""LogIntake: hands every emitted log record to the alert manager's thread.

A log record processor (installed through the SDK configurator's
``log_record_processors=`` argument, only when alerting is configured) whose
``on_emit`` only appends the record to a bounded queue, as
:class:`~otelbundle.alerting.processor.AlertingSpanProcessor` does with spans:
no parsing, no locks in the common case, no I/O. A full queue drops its oldest
record and counts it. The manager's thread drains the queue before it folds
spans and hands each batch to the *consumers* (:meth:`LogIntake.add_consumer`):
the per-trace ring of log lines that alert evidence quotes (:mod:`.trace_logs`)
and the windows of rules over log records (:mod:`.log_fold`).

``on_emit`` makes no assumption about the thread it runs on: under the distro it
is otelbundle's log translator thread (:mod:`otelbundle.sdk.logs.deferred`),
without it the thread that logged.
It reads nothing of the current context; what a consumer needs is in the record
(its trace and span ids, scope, severity, body, attributes).
"""

from __future__ import annotations

import logging
import threading
from collections import deque
from collections.abc import Callable, Sequence
from typing import Protocol

from opentelemetry.sdk._logs import LogRecordProcessor, ReadableLogRecord, ReadWriteLogRecord

from otelbundle.config.report import warn_seen

_log = logging.getLogger("otelbundle.alerting")
DEFAULT_LOG_QUEUE_SIZE = 4096
DRAIN_AT = 512  # queued records at which the manager is asked to drain (drain_soon), once per drain

LogRecordItem = ReadWriteLogRecord | ReadableLogRecord
"""What the queue holds: the SDK's record as the processor received it (never copied)."""


class LogConsumer(Protocol):
    """Takes each drained batch, on the manager's thread, in emission order."""

    def take(self, records: Sequence[LogRecordItem], now: float) -> None: ...


class LogIntake(LogRecordProcessor):
    """The log records' way to the alert manager's thread; see the module docstring.

    ``wakeup`` (None: records wait for the next span fold or tick) is called when
    a record lands in an empty queue, once per drain, so that a consumer that
    decides on records (log rules) can ask for event-driven drains. ``drain_soon``
    (the manager's wake) is called once when DRAIN_AT records are queued: records
    are not kept long after the application is done with them. ``upstream`` (None:
    records arrive as they are emitted) is called first in every drain: it emits the
    records still waiting before the intake (the distro's log translator holds a
    request's lines up to 200 ms), so the lines a failing span logged are in before
    the span is folded and its alert quotes them.
    """

    def __init__(self, *, queue_size: int = DEFAULT_LOG_QUEUE_SIZE) -> None:
        self._capacity = max(1, queue_size)
        self._queue: deque[LogRecordItem] = deque(maxlen=self._capacity)
        self._drain_at = max(1, min(DRAIN_AT, self._capacity))
        self._drain_asked = False
        self._consumers: tuple[LogConsumer, ...] = ()
        self.wakeup: Callable[[], None] | None = None
        self.drain_soon: Callable[[], None] | None = None
        self.upstream: Callable[[], object] | None = None
        self._drop_lock = threading.Lock()
        self._drain_lock = threading.Lock()
        self.records_dropped = 0
        self.records_taken = 0
        self.errors = 0

    # ---- consumers -----------------------------------------------------------
    def add_consumer(self, consumer: LogConsumer) -> None:
        """A new consumer sees the batches drained from now on (a tuple swap: safe against a drain)."""
        self._consumers = (*self._consumers, consumer)

    def remove_consumer(self, consumer: LogConsumer) -> None:
        self._consumers = tuple(c for c in self._consumers if c is not consumer)

    @property
    def consumers(self) -> tuple[LogConsumer, ...]:
        return self._consumers

    # ---- the emitting thread -------------------------------------------------
    def on_emit(self, log_record: ReadWriteLogRecord) -> None:
        try:
            queue = self._queue
            queued = len(queue)
            if 0 < queued < self._drain_at:  # the common case: one length check and an append
                queue.append(log_record)
                return
            if queued >= self._capacity:  # the deque drops its oldest on append
                with self._drop_lock:
                    self.records_dropped += 1
            queue.append(log_record)
            if queued == 0:
                wakeup = self.wakeup
                if wakeup is not None:
                    wakeup()
            elif not self._drain_asked and self.drain_soon is not None:
                self._drain_asked = True  # records held longer age into older GC generations
                self.drain_soon()
        except Exception:  # the application's logging call must never see our failure
            self._failed(1)

    @property
    def records_seen(self) -> int:
        """Every record handed to on_emit: taken, dropped, or still queued."""
        return self.records_taken + self.records_dropped + len(self._queue)

    @property
    def queued(self) -> int:
        return len(self._queue)

    # ---- the manager's thread ------------------------------------------------
    def drain(self, now: float) -> int:
        """Hand every queued record to the consumers; returns how many."""
        upstream = self.upstream
        if upstream is not None:
            try:
                upstream()  # outside our lock: it emits into on_emit, on this thread
            except Exception:
                self._failed(1)
        with self._drain_lock:
            self._drain_asked = False
            queue = self._queue
            pop = queue.popleft
            batch: list[LogRecordItem] = []
            try:
                for _ in range(len(queue)):
                    batch.append(pop())
            except IndexError:  # on_emit dropped the oldest of a full queue meanwhile
                pass
            self.records_taken += len(batch)
            if batch:
                for consumer in self._consumers:
                    try:
                        consumer.take(batch, now)
                    except Exception:
                        self._failed(len(batch))
            return len(batch)

    def resize(self, queue_size: int) -> None:
        """A new capacity (before records flow: queued records beyond it are dropped)."""
        self._capacity = max(1, queue_size)
        self._queue = deque(self._queue, maxlen=self._capacity)
        self._drain_at = max(1, min(DRAIN_AT, self._capacity))

    def after_fork_in_child(self) -> None:
        """The parent's queued records are the parent's; its locks may have been held at fork."""
        self._queue = deque(maxlen=self._capacity)
        self._drain_asked = False
        self._drop_lock, self._drain_lock = threading.Lock(), threading.Lock()
        self.records_dropped = self.records_taken = self.errors = 0

    def _failed(self, count: int) -> None:
        first = self.errors == 0
        self.errors += count
        if first:
            warn_seen(
                _log,
                "otelbundle: taking a log record in for the alert rules failed; counting further failures",
                exc_info=True,
            )

    def shutdown(self) -> None:
        return None

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        return True
