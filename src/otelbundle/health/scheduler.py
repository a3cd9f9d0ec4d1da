"""Runs every check on its own interval, each run on a worker thread with a timeout.

One daemon thread decides what is due; each run gets its own daemon worker
thread, and a check never has more than one run in flight, so the number of
threads is bounded by the number of checks. A run that outlives its timeout is
abandoned: it is reported failing ("timed out after Xs") and, while its thread
is still stuck, later runs of that check are skipped and counted instead of
piling up threads.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from opentelemetry.instrumentation.utils import suppress_instrumentation

from otelbundle.health.checks import Check
from otelbundle.health.messages import MessageScrub, bounded, builtin_scrub, clean_message
from otelbundle.health.model import CheckResult, Status, Verdict

_logger = logging.getLogger(__name__)

ResultCallback = Callable[[CheckResult], None]


@dataclass
class _State:
    check: Check
    next_due: float
    running_since: float | None = None
    run_id: int = 0
    abandoned: bool = False
    last: CheckResult | None = None
    skipped: int = 0


class Scheduler:
    """Owns the per-check state; results go to ``on_result`` (called on scheduler/worker threads).

    ``scrub`` cleans what a check says before anyone sees it (the process's scrubber, from
    the instrumentor); without one, the built-in scrubbing rules apply.
    """

    def __init__(
        self,
        checks: Sequence[Check],
        on_result: ResultCallback,
        *,
        clock: Callable[[], float] = time.monotonic,
        wall_ns: Callable[[], int] = time.time_ns,
        start_delay_s: float = 0.0,
        scrub: MessageScrub | None = None,
    ) -> None:
        self._clock, self._wall_ns = clock, wall_ns
        self._scrub = scrub if scrub is not None else builtin_scrub()
        now = clock()
        self._states = {c.spec.name: _State(c, next_due=now + start_delay_s) for c in checks}
        self._on_result = on_result
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._wake = threading.Event()
        self._thread: threading.Thread | None = None
        self.last_tick = now

    # ---- lifecycle ------------------------------------------------------
    def start(self, *, prepare_user_code: bool = True) -> None:
        """Prepare every check on this (the starting) thread, then start the loop; with
        ``prepare_user_code`` False, the checks that import the user's code wait for
        :meth:`prepare_user_code` (the instrumentor's post-instrumentation hook)."""
        for state in self._states.values():
            if prepare_user_code or not getattr(state.check, "imports_user_code", False):
                self._prepare(state.check)
        self._stop.clear()
        self._thread = threading.Thread(target=self._loop, name="otelbundle-health", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 2.0) -> None:
        self._stop.set()
        self._wake.set()
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join(timeout)

    def alive(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    # ---- observation ----------------------------------------------------
    def results(self) -> list[CheckResult]:
        with self._lock:
            return [s.last for s in self._states.values() if s.last is not None]

    def skipped(self) -> dict[str, int]:
        with self._lock:
            return {name: s.skipped for name, s in self._states.items()}

    def readiness_checks(self) -> list[str]:
        return [name for name, s in self._states.items() if s.check.spec.readiness]

    # ---- the loop ---------------------------------------------------------
    def _loop(self) -> None:
        while not self._stop.is_set():
            try:
                delay = self.tick()
            except Exception:  # never let the scheduler die silently
                _logger.exception("health scheduler tick failed")
                delay = 1.0
            self._wake.wait(delay)
            self._wake.clear()

    def tick(self) -> float:
        """Start due runs, abandon overdue ones; return seconds until something is due."""
        now = self._clock()
        self.last_tick = now
        to_start: list[tuple[_State, int]] = []
        timed_out: list[CheckResult] = []
        hung: list[CheckResult] = []
        with self._lock:
            for state in self._states.values():
                spec = state.check.spec
                overdue = state.running_since is not None and now - state.running_since >= spec.timeout_s
                if overdue and not state.abandoned:
                    state.abandoned = True
                    timed_out.append(self._timeout_result(state, now))
                if now >= state.next_due:
                    state.next_due = now + spec.interval_s
                    if state.running_since is not None:
                        state.skipped += 1
                        if state.abandoned:  # still stuck: this interval's result is failing too
                            hung.append(self._hung_result(state, now))
                        continue
                    state.run_id += 1
                    state.running_since, state.abandoned = now, False
                    to_start.append((state, state.run_id))
            wake_at = [s.next_due for s in self._states.values()]
            wake_at += [
                s.running_since + s.check.spec.timeout_s
                for s in self._states.values()
                if s.running_since is not None and not s.abandoned
            ]
        for result in timed_out:
            self._abandon(self._states[result.name].check)
            self._deliver(result)
        for result in hung:
            self._deliver(result)
        for state, run_id in to_start:
            self._launch(state, run_id)
        return max(0.01, min(min(wake_at, default=now + 1.0) - now, 1.0))

    def prepare_user_code(self) -> None:
        """Prepare the checks that import the user's code (a check prepares once)."""
        for state in list(self._states.values()):
            if getattr(state.check, "imports_user_code", False):
                self._prepare(state.check)

    @staticmethod
    def _prepare(check: Check) -> None:
        """A check's imports happen here, not on a worker thread a fork could catch mid-import."""
        prepare = getattr(check, "prepare", None)
        if prepare is None:
            return
        try:
            with suppress_instrumentation():  # a module imported here may connect somewhere
                prepare()
        except Exception:  # a broken driver install: the run says so, as a failing result
            _logger.debug("health check %s could not be prepared", check.spec.name, exc_info=True)

    @staticmethod
    def _abandon(check: Check) -> None:
        """Let a check that can (``abandon()``: HTTP closes its sockets) end its overdue run."""
        abandon = getattr(check, "abandon", None)
        if abandon is None:
            return
        try:
            abandon()
        except Exception:
            _logger.debug("health check %s could not be abandoned", check.spec.name, exc_info=True)

    def _timeout_result(self, state: _State, now: float) -> CheckResult:
        spec = state.check.spec
        elapsed = now - (state.running_since or now)
        verdict = Verdict(Status.FAILING, f"timed out after {spec.timeout_s:g}s")
        result = self._result(state, verdict, elapsed)
        state.last = result
        return result

    def _hung_result(self, state: _State, now: float) -> CheckResult:
        """A failing result for an interval whose run was skipped because the last one is still
        stuck. Without it a hung check gave one failing result and then none: an alert rule over
        its spans resolved while /readyz still said failing, and stayed resolved."""
        spec = state.check.spec
        elapsed = now - (state.running_since or now)
        waited = f"{elapsed:.0f}s" if elapsed >= 10 else f"{elapsed:.1f}s"  # not "after 0s" at 200 ms
        verdict = Verdict(
            Status.FAILING,
            f"timed out after {spec.timeout_s:g}s; still not returned after {waited}, so this run was skipped",
        )
        result = self._result(state, verdict, 0.0)
        state.last = result
        return result

    def _launch(self, state: _State, run_id: int) -> None:
        worker = threading.Thread(
            target=self._run,
            args=(state, run_id),
            name=f"otelbundle-health-{state.check.spec.name}",
            daemon=True,
        )
        try:
            worker.start()
        except RuntimeError as exc:  # "can't start new thread": out of threads or shutting down
            with self._lock:
                state.running_since = None
                result = self._result(
                    state, Verdict(Status.FAILING, bounded(f"could not start the check: {exc}")), 0.0
                )
                state.last = result
            self._deliver(result)

    def _run(self, state: _State, run_id: int) -> None:
        previous = state.last.status if state.last is not None else None
        started = self._clock()
        try:
            # A probe is not application work: its sqlite3/requests/... calls must
            # not become exported spans every few seconds.
            with suppress_instrumentation():
                verdict = state.check.run(previous)
        except BaseException as exc:  # also sys.exit() in a check: the run must end with a result,
            # or the check stays "running" and every later run is skipped as hung
            verdict = Verdict(Status.FAILING, f"check raised {type(exc).__name__}: {_describe(exc)}")
        elapsed = self._clock() - started
        # Scrubbed here, off the lock, before /readyz, the logs, the spans or a sink can see it.
        verdict = Verdict(verdict.status, clean_message(verdict.message, self._scrub), verdict.value)
        with self._lock:
            if state.run_id != run_id:
                return
            state.running_since = None
            if state.abandoned:
                return  # already reported as timed out; this late answer is not news
            result = self._result(state, verdict, elapsed)
            state.last = result
        self._deliver(result)
        self._wake.set()

    def _result(self, state: _State, verdict: Verdict, elapsed: float) -> CheckResult:
        spec = state.check.spec
        end_ns = self._wall_ns()
        return CheckResult(
            name=spec.name,
            kind=spec.kind,
            status=verdict.status,
            message=verdict.message,  # a check's: cleaned in _run; ours: short
            duration_s=elapsed,
            start_ns=end_ns - int(elapsed * 1e9),
            end_ns=end_ns,
            attributes=dict(spec.attributes),
        )

    def _deliver(self, result: CheckResult) -> None:
        try:
            self._on_result(result)
        except Exception:
            _logger.exception("health result handler failed for check %s", result.name)


def _describe(exc: BaseException) -> str:
    """``str(exc)``, or a stand-in when that raises too.

    User code owns the exception class: a ``__str__`` that fails here would end
    the worker thread without a result, leaving the check "running" for ever
    (every later run skipped as hung) and a traceback on the app's stderr.
    """
    try:
        return str(exc)
    except Exception:
        return "<the exception could not be turned into text>"
