"""What otelbundle started in this process, and how to flush and stop it in bounded time.

The SDK registers one ``atexit`` shutdown per provider and runs them one after
the other, each allowed the exporter's full timeout: with a blackholed
collector that is 3 x OTEL_EXPORTER_OTLP_TIMEOUT. Our exit handler (registered
after the SDK's, so it runs first) flushes the three providers in parallel under
one deadline; the SDK's own handlers then find nothing left to do. What our
queues still hold when the deadline runs out is counted in the exit summary as
not flushed. A SIGTERM during the flush does not cut it short.
"""

from __future__ import annotations

import atexit
import functools
import logging
import os
import signal
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from opentelemetry import metrics, trace
from opentelemetry._logs import get_logger_provider

from otelbundle.sdk import forking
from otelbundle.sdk.export import exit_flush
from otelbundle.sdk.export.report import DropReport

_log = logging.getLogger("otelbundle")


# After the deadline, how long a second caller (the SIGTERM handler) still waits for the
# first shutdown to print its summary: that takes microseconds once the flush has given up.
SUMMARY_GRACE_SECONDS = 0.5
# How long stopping our own parts may take before the providers' flush starts (the alert
# engine joins its thread for 2 s and gives its notifiers 2 s): a SIGTERM that arrives
# meanwhile waits this long for the flush to begin.
STOPPERS_SECONDS = 5.0


@dataclass
class Runtime:
    """The live configuration: drop report, extra parts to stop, exit deadline."""

    report: DropReport
    shutdown_timeout: float = 5.0
    stoppers: list[Callable[[], None]] = field(default_factory=list)
    _stopped: bool = False
    # Re-entrant: the SIGTERM handler runs on the main thread, possibly while it holds this lock.
    _lock: threading.RLock = field(default_factory=threading.RLock)
    _flusher: int | None = None  # the thread running shutdown(), while it runs
    _ends_at: float = 0.0  # that shutdown's deadline (time.monotonic())
    _finished: threading.Event = field(default_factory=threading.Event)
    _result: bool = True
    _sigterm_pending: bool = False  # SIGTERM arrived on the flushing thread: die once it is done

    @staticmethod
    def providers() -> list[Any]:
        return [trace.get_tracer_provider(), metrics.get_meter_provider(), get_logger_provider()]

    def force_flush(self, timeout: float | None = None) -> bool:
        """Flush all signals in parallel; True when every provider finished in time."""
        deadline = timeout if timeout is not None else self.shutdown_timeout
        millis = int(deadline * 1000)
        calls = [
            functools.partial(p.force_flush, millis) for p in self.providers() if hasattr(p, "force_flush")
        ]
        return _run_parallel(calls, deadline)

    def shutdown(self, timeout: float | None = None) -> bool:
        """Stop our parts, then shut every provider down in parallel under one deadline.

        Runs once. A second call while the first runs (the SIGTERM handler during the
        exit flush of a multiprocessing child) waits for it, within its deadline, so the
        flush is not cut short; on the flushing thread itself it returns at once.
        """
        deadline = timeout if timeout is not None else self.shutdown_timeout
        with self._lock:
            first = not self._stopped
            if first:
                self._flusher = threading.get_ident()  # before _stopped: see _on_sigterm
                self._ends_at = time.monotonic() + STOPPERS_SECONDS + deadline
                self._stopped = True
        if not first:
            return self._wait_for_shutdown()
        try:
            self._result = self._stop_and_flush(deadline)
            return self._result
        finally:
            self._finished.set()
            self._flusher = None
            if self._sigterm_pending:
                _die_of_sigterm()

    def run_stoppers(self) -> None:
        """Stop our parts, each on its own thread, all within STOPPERS_SECONDS: one that hangs
        (a lock the interrupted main thread holds, on SIGTERM) must not keep the providers'
        flush from starting, and the spans already ended from being exported."""
        _run_parallel(self.stoppers, STOPPERS_SECONDS, failure_level=logging.WARNING)

    def _stop_and_flush(self, deadline: float) -> bool:
        self.run_stoppers()
        self._ends_at = time.monotonic() + deadline  # the providers' flush gets the whole deadline
        exit_flush.begin()  # a collector that refuses the connection is not waited for
        done = _run_parallel([p.shutdown for p in self.providers() if hasattr(p, "shutdown")], deadline)
        # What our queues still hold now is lost with the process (usually: the deadline ran out).
        summary = self.report.summary(not_flushed=self.report.not_flushed())
        if summary:
            self.report.emit(summary)
        if not done:
            self.report.emit(
                f"otelbundle: telemetry flush did not finish within {deadline:.1f}s; exiting anyway."
            )
        return done

    def _wait_for_shutdown(self) -> bool:
        """The running shutdown's result, waited for until its deadline (and the summary's grace)."""
        if self._flusher == threading.get_ident():
            return False  # called from inside the flush (a stopper): waiting would deadlock
        while not self._finished.is_set():
            left = self._ends_at + SUMMARY_GRACE_SECONDS - time.monotonic()  # moves once the stoppers end
            if left <= 0:
                return False
            self._finished.wait(min(left, 0.25))
        return self._result

    def register_exit_handler(self) -> None:
        atexit.register(self.shutdown)
        # multiprocessing children end with os._exit(): atexit never runs there, so
        # their spans and logs would be lost; the fork registry runs this at their exit.
        forking.on_child("runtime", self._rearm_in_child)
        forking.on_child_exit("runtime", self._shutdown_at_child_exit)

    def flush_on_sigterm(self) -> bool:
        """Flush before dying of SIGTERM when the app has no SIGTERM handler of its own.

        Python's default action for SIGTERM ends the process without running
        atexit, so `docker stop` or `kill` of a plain `python app.py` lost the
        last batches. Only the default disposition is replaced (servers such as
        gunicorn install their own later, which then wins); after the bounded
        flush the default is restored and the signal re-raised, so the exit
        status is still "killed by SIGTERM". A SIGTERM during a flush already
        running lets it end first (:meth:`_on_sigterm`).
        """
        if threading.current_thread() is not threading.main_thread():
            return False
        if signal.getsignal(signal.SIGTERM) is not signal.SIG_DFL:
            return False

        def on_sigterm(signum: int, frame: object) -> None:
            self._on_sigterm()

        signal.signal(signal.SIGTERM, on_sigterm)
        return True

    def _on_sigterm(self) -> None:
        """Flush (or let the running flush end), then die of SIGTERM.

        Python runs the handler on the main thread between two bytecodes. When that
        thread is inside shutdown() itself (a multiprocessing child's exit flush,
        ``Pool.__exit__`` terminating its workers), neither waiting for the flush
        (it cannot go on while its thread is here) nor dying now (it would cut the
        flush short, uncounted) will do: the signal is noted, the flush resumes,
        and shutdown() re-raises it when it ends.
        """
        if self._flusher == threading.get_ident():
            self._sigterm_pending = True
            return
        # Not on this thread: the handler interrupts the main thread wherever it is, perhaps
        # inside a lock the flush needs (an Event.set of the alert engine's or the SDK's
        # batch processor, non-re-entrant), and the flush run here waited for it forever:
        # the process hung, and a second SIGTERM could not end it. On its own thread, the
        # flush waits for nothing this thread holds but that lock, and this thread waits for
        # it only as long as a shutdown may take: then dies of SIGTERM either way.
        flush = threading.Thread(target=self._flush_quietly, name="otelbundle-sigterm-flush", daemon=True)
        try:
            flush.start()
            flush.join(STOPPERS_SECONDS + self.shutdown_timeout + SUMMARY_GRACE_SECONDS)
        finally:
            _die_of_sigterm()

    def _flush_quietly(self) -> None:
        try:
            self.shutdown()  # flushes, or waits for the shutdown another thread runs
        except Exception:
            _log.debug("otelbundle: flush on SIGTERM failed", exc_info=True)

    def _shutdown_at_child_exit(self) -> None:
        self.shutdown()

    def _rearm_in_child(self) -> None:
        """A child inherits a copy of this object: its own exit must flush again."""
        self._lock = threading.RLock()
        self._stopped = False
        self._flusher = None
        self._finished = threading.Event()
        self._result = True
        self._sigterm_pending = False
        self.report.after_fork_in_child()
        exit_flush.after_fork_in_child()


def _die_of_sigterm() -> None:
    """The default action, as if our handler had never been there: exit status "killed by SIGTERM"."""
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    os.kill(os.getpid(), signal.SIGTERM)


def _run_parallel(
    calls: Sequence[Callable[[], Any]], timeout: float, failure_level: int = logging.DEBUG
) -> bool:
    """Run ``calls`` on threads of their own; whether all ended within ``timeout``. A call's
    exception is logged at ``failure_level``, never raised: this runs as the process exits."""

    def run(call: Callable[[], Any]) -> None:
        try:
            call()
        except Exception:
            _log.log(failure_level, "otelbundle: error while stopping %r", call, exc_info=True)

    threads = [
        threading.Thread(target=run, args=(call,), name="otelbundle-flush", daemon=True) for call in calls
    ]
    for thread in threads:
        thread.start()
    end = time.monotonic() + timeout
    for thread in threads:
        thread.join(max(0.0, end - time.monotonic()))
    return not any(thread.is_alive() for thread in threads)


_current: Runtime | None = None


def current() -> Runtime | None:
    return _current


def set_current(runtime: Runtime) -> None:
    global _current
    _current = runtime
