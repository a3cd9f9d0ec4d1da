"""Logging records leave the application's thread as they are; a thread of ours translates them.

Turning a ``logging`` record into an OTLP log record (attributes from ``extra``,
the body, the exception's text, the SDK record, every log record processor)
costs the thread that called ``logger.info`` about twice what writing the line
to a file does. Nothing of it has to happen there: like a span processor's
``on_end``, the caller only needs to hand over what cannot be had later.

* On the application's thread the OTLP handler's filter
  (:class:`otelbundle.sdk.logs.records.ExportableRecordFilter`) passes the record
  to :meth:`DeferredLogs.capture` and tells the handler not to emit it. Captured
  with it: the caller's ``contextvars`` context (a constant-time copy), which
  holds the current span, so the translation sees what the call saw. Thread,
  process and task identity and the time are fields of the record already.
* The translator thread (``otelbundle-log-translator``) translates each record
  inside the captured context: for the handler the logging instrumentor
  installed, by otelbundle's translation (:mod:`otelbundle.sdk.logs.translation`,
  the contrib handler's output with one SDK logger kept per name), for any other
  by the handler's own ``emit``. Every log record processor on the
  LoggerProvider (the export, alert-rule log intake, …) gets every record
  there, on that thread.
* The queue is bounded (``OTEL_BLRP_MAX_QUEUE_SIZE``): a full queue refuses the
  record and counts it on the :class:`~otelbundle.sdk.export.report.DropReport`.
* :class:`DeferredLogsProcessor`, the first log record processor on the
  LoggerProvider, drains the queue on ``force_flush`` and ``shutdown``, before
  the processors behind it flush (the SDK calls them in order).
* Records logged after :meth:`DeferredLogs.close` (threads still logging during the
  exit flush, an ``atexit`` handler or ``__del__`` running after ours) are not
  exported; they are counted (:attr:`DeferredLogs.late`) and the exit summary
  says them as not flushed.
* In a forked child the queue starts empty (the parent exports what it had
  captured) with a translator thread of its own.
"""

from __future__ import annotations

import collections
import contextvars
import logging
import threading
from collections.abc import Callable

from opentelemetry.sdk._logs import LogRecordProcessor, ReadWriteLogRecord
from opentelemetry.trace import SpanContext

from otelbundle.sdk import forking
from otelbundle.sdk.export.report import DropReport

_log = logging.getLogger("otelbundle")

# Captured records that wake the translator before its interval is up.
WAKE_AT = 512
# The translator's interval, seconds: at most this long between a call and its translation.
INTERVAL_SECONDS = 0.2

# What the translator calls for each record, inside the record's captured context: the
# record, and the span context of the request it names when that span had already ended.
Replay = Callable[[logging.LogRecord, SpanContext | None], None]
_Captured = tuple[logging.LogRecord, contextvars.Context, SpanContext | None]


class DeferredLogs:
    """The bounded queue between the application's threads and the translator thread."""

    def __init__(
        self,
        report: DropReport,
        capacity: int,
        *,
        interval: float = INTERVAL_SECONDS,
        wake_at: int = WAKE_AT,
    ) -> None:
        self._report = report
        self.capacity = max(1, capacity)
        self._interval = interval
        self._wake_at = max(1, min(wake_at, self.capacity))
        self._queue: collections.deque[_Captured] = collections.deque()
        self._wake = threading.Event()
        self._drain_lock = threading.Lock()
        self._translating = threading.local()
        self._handler: logging.Handler | None = None
        self._replay: Replay | None = None
        self._thread: threading.Thread | None = None
        self._closed = False
        self._late = 0
        self._late_lock = threading.Lock()
        self._fork_hook = f"deferred-logs-{id(self)}"

    # ---- the application's threads ------------------------------------------------
    def capture(self, record: logging.LogRecord, span_context: SpanContext | None = None) -> bool:
        """Queue ``record`` with the caller's context; False once closed (nothing is queued then).

        A full queue refuses the record and counts it (True: it is accounted for).
        Several threads may pass the length check together: the queue then holds at
        most ``capacity`` plus the number of logging threads.
        """
        if self._closed:
            with self._late_lock:  # only after close: the exit flush is running or done
                self._late += 1
            return False
        queue = self._queue
        if len(queue) >= self.capacity:
            self._report.refused("logs")
            return True
        queue.append((record, contextvars.copy_context(), span_context))
        if len(queue) >= self._wake_at and not self._wake.is_set():
            self._wake.set()
        return True

    def serves(self, handler: logging.Handler) -> bool:
        """True when records for ``handler`` are to be captured here, on this thread.

        Records logged while a record is being translated (the SDK's own warnings,
        on the translating thread) are handled inline, as before, where the
        handler's recursion guard sees them.
        """
        return handler is self._handler and not getattr(self._translating, "on", False)

    @property
    def pending(self) -> int:
        return len(self._queue)

    @property
    def late(self) -> int:
        """Records refused because the exit flush had begun (a thread still logging): never
        exported, so the exit summary counts them as not flushed."""
        return self._late

    # ---- the translator ---------------------------------------------------------------
    def start(self, handler: logging.Handler, replay: Replay) -> None:
        """Capture records for ``handler`` from now on; ``replay`` hands one back to it."""
        self._handler = handler
        self._replay = replay
        if self._thread is None and not self._closed:
            forking.on_child(self._fork_hook, self._after_fork_in_child)
            self._start_thread()

    def _start_thread(self) -> None:
        self._thread = threading.Thread(target=self._run, name="otelbundle-log-translator", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._closed:
            self._wake.wait(self._interval)
            self._wake.clear()
            try:
                self.drain()
            except Exception:  # the thread must outlive any one failure
                _log.debug("otelbundle: log translation failed", exc_info=True)

    def drain(self) -> int:
        """Translate what is queued when the drain starts, on this thread, in order; one drainer
        at a time. Records captured meanwhile wait for the next drain: with threads that keep
        logging, a drain that chased them would not end (a flush or exit would run out its deadline).
        """
        replay = self._replay
        if replay is None:
            return 0
        queue = self._queue
        done = 0
        with self._drain_lock:
            self._translating.on = True
            try:
                for _ in range(len(queue)):
                    try:
                        record, context, span_context = queue.popleft()
                    except IndexError:  # emptied by a fork hook meanwhile
                        break
                    try:
                        context.run(replay, record, span_context)
                    except Exception:  # reported as a handler reports a record it cannot emit
                        self._handle_error(record)
                    done += 1
            finally:
                self._translating.on = False
        return done

    def _handle_error(self, record: logging.LogRecord) -> None:
        """``handler.handleError``: the stdlib's report of a failed record (a traceback on stderr
        while ``logging.raiseExceptions``); on the caller's thread the error would have reached
        the application's ``logger.info`` call."""
        try:
            if self._handler is not None:
                self._handler.handleError(record)
        except Exception:
            _log.debug("otelbundle: could not translate a log record", exc_info=True)

    def close(self) -> None:
        """Refuse further records (the SDK is shutting down), then translate what is queued."""
        if self._closed:
            return
        self._closed = True
        self._wake.set()
        forking.remove(self._fork_hook)
        self.drain()

    def _after_fork_in_child(self) -> None:
        """The parent exports what it had queued; the child starts empty, with its own thread."""
        self._queue.clear()
        self._wake = threading.Event()
        self._drain_lock = threading.Lock()
        self._translating = threading.local()
        self._late, self._late_lock = 0, threading.Lock()
        self._thread = None
        if self._replay is not None and not self._closed:
            self._start_thread()


class DeferredLogsProcessor(LogRecordProcessor):
    """First on the LoggerProvider: drains the capture queue before the processors behind it flush."""

    def __init__(self, deferred: DeferredLogs) -> None:
        self.deferred = deferred

    def on_emit(self, log_record: ReadWriteLogRecord) -> None:
        return None

    def shutdown(self) -> None:
        self.deferred.close()

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        self.deferred.drain()
        return True


_current: DeferredLogs | None = None


def current() -> DeferredLogs | None:
    """The queue the configurator made for this process (None: records are translated inline)."""
    return _current


def set_current(deferred: DeferredLogs | None) -> None:
    global _current
    _current = deferred
