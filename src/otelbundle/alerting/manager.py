"""Runs the alert rules in a process: the timer thread, reloads (file changes, SIGHUP) and fork.

As Prometheus splits ``rules/manager.go`` (when and where rules run, reloads on
SIGHUP) from ``rules/alerting.go`` (the alert state machine), the
:class:`RuleManager` here owns everything that is about time and processes and
the :class:`~otelbundle.alerting.engine.Engine` only evaluates.

:func:`start_alerting` builds the whole chain from a parsed ``alerting:``
section: config -> processor -> engine -> notifiers, and never raises. A bad
*reload* keeps the rules that were running.
"""

from __future__ import annotations

import logging
import math
import os
import signal
import threading
import time
from collections.abc import Callable, Mapping

from opentelemetry import metrics
from opentelemetry.sdk._logs import LogRecordProcessor
from opentelemetry.sdk.trace import SpanProcessor

from otelbundle.alerting.clock import SteadyClock
from otelbundle.alerting.engine import Engine
from otelbundle.alerting.evidence import TextScrubber
from otelbundle.alerting.instance import process_labels
from otelbundle.alerting.notify import NotificationDispatcher, build_notifiers_at_start
from otelbundle.alerting.processor import AlertingSpanProcessor
from otelbundle.alerting.section import (
    AlertingConfig,
    alerting_config_at_start,
    glob_rule_files,
    read_alerting_config,
)
from otelbundle.alerting.telemetry import (
    AlertTelemetry,
    alerting_meter,
    register_notification_metrics,
    register_processor_metrics,
    register_routing_metrics,
)
from otelbundle.config import ConfigProblem
from otelbundle.config.document import open_at_start
from otelbundle.config.report import diagnostics_logger, log_problems, warn_seen
from otelbundle.sdk import forking

_log = logging.getLogger("otelbundle.alerting")
RELOAD_CHECK_INTERVAL = 2.0
# The longest the engine thread sleeps without looking at what a signal handler asked (SIGHUP:
# a reload): a handler may set only a flag, never wake it (install_sighup).
SIGNAL_POLL = 0.5
FORK_HOOK = "alert-rules"


class RuleFiles:
    """The config and rule files the running rules came from, and whether they changed.

    ``changes`` is what the manager asks on each tick (at most every
    RELOAD_CHECK_INTERVAL it compares modification times, the ``rule_files:`` globs
    expanded anew: a file added where a glob points is a change); ``load`` re-reads on
    demand (SIGHUP). A bad file is reported and yields None: the running rules stay.
    A config that had problems at start (``config.problems``: no rules running) is
    watched the same way, so fixing it starts the rules.
    """

    def __init__(self, config: AlertingConfig, env: Mapping[str, str]) -> None:
        self.path = config.path
        self.env = env
        self._globs = list(config.rule_file_globs)
        # Files not matched by a glob that are watched too: those a bad read's problems name.
        self._also = _named_by(config.problems)
        self._running = not config.problems  # whether rules of these files run (the messages differ)
        self._mtimes = self._stat()
        self._last_check = 0.0
        self._lock = threading.Lock()

    def changes(self) -> AlertingConfig | None:
        now = time.monotonic()
        if now - self._last_check < RELOAD_CHECK_INTERVAL:
            return None
        self._last_check = now
        return self.load() if self._stat() != self._mtimes else None

    def _stat(self) -> dict[str, float]:
        """Modification times of the config, the files its globs match now, and ``_also``."""
        return _mtimes_of(self.path, [*glob_rule_files(self.path, self._globs), *self._also])

    def load(self) -> AlertingConfig | None:
        with self._lock:
            try:
                config, problems = read_alerting_config(self.path, self.env)
            except Exception as exc:
                diagnostics_logger().error("otelbundle: alert rules not reloaded: %s", exc)
                self._mtimes = self._stat()  # said once: read again when a file changes again
                return None
            # The globs the file now has, even when it has problems: a file added where they
            # point (perhaps the fix) is a change to read.
            self._globs = list(config.rule_file_globs) if config is not None else []
            if problems:
                consequence = (
                    "alert rules not reloaded because of {n} problem(s); the running rules stay"
                    if self._running
                    else "alert rules are still off because of {n} problem(s); fixing the files starts them"
                )
                log_problems(problems, consequence, once=False)
                # Said once: the next check re-reads only when a file changes again. The files
                # the problems name are watched too (a rule file the edit added, broken: fixing it reloads).
                self._also = _named_by(problems)
                self._mtimes = self._stat()
                return None
            self._also, self._running = [], True
            self._mtimes = self._stat()
            return config if config is not None else AlertingConfig(path=self.path)

    def after_fork_in_child(self) -> None:
        self._lock = threading.Lock()


class RuleManager:
    """The engine's timer thread, its reloads and its life across fork(); see the module docstring.

    ``span_processors`` and ``log_record_processors`` are what the configurator adds to
    the SDK; ``see_unsampled_spans`` whether the sampler must record every span for the rules.
    """

    def __init__(
        self,
        config: AlertingConfig,
        dispatcher: NotificationDispatcher,
        *,
        telemetry: AlertTelemetry | None = None,
        clock: Callable[[], float] | None = None,
        rule_files: RuleFiles | None = None,
        labels: Callable[[], Mapping[str, str]] | None = process_labels,
        scrubber: TextScrubber | None = None,
    ) -> None:
        self._stop = threading.Event()
        self._wake = threading.Event()
        self._reload_asked = False  # SIGHUP: reload on the engine thread (a flag: see install_sighup)
        self._thread: threading.Thread | None = None
        self._stopped = False
        self.dispatcher = dispatcher
        self.rule_files = rule_files
        self.see_unsampled_spans = config.see_unsampled_spans
        self._started_with = config  # what the settings a reload does not apply were at start
        # A clock that does not step with the wall clock (clock.py); a test's own clock is taken as is.
        steady = SteadyClock() if clock is None else None
        self.engine = Engine(
            config,
            dispatcher,
            clock=steady or clock or time.time,
            to_wall=steady.to_wall if steady is not None else None,
            telemetry=telemetry,
            queue_size=config.span_queue_size,
            process_labels=labels,
            wakeup=self.wake,
            scrubber=scrubber,
        )
        self.engine.log_intake.drain_soon = self.wake

    @property
    def processor(self) -> AlertingSpanProcessor:
        return self.engine.processor

    @property
    def span_processors(self) -> list[SpanProcessor]:
        return [self.engine.processor]

    @property
    def log_record_processors(self) -> list[LogRecordProcessor]:
        """The log intake: evidence quotes a trace's log lines, and log rules fold records."""
        return [self.engine.log_intake]

    def take_logs_first_from(self, upstream: Callable[[], object]) -> None:
        """Before each drain, have ``upstream`` emit the records it still holds (see LogIntake)."""
        self.engine.log_intake.upstream = upstream

    # ---- the thread ----------------------------------------------------------
    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="otelbundle-alert-engine", daemon=True)
        self._thread.start()

    def wake(self) -> None:
        """Spans (or records) arrived in an empty queue: fold them now rather than at the next tick."""
        self._wake.set()

    def _run(self) -> None:
        """Ticks every ``Engine.tick()`` (a full evaluation, as Prometheus' group timer);
        between them, folds and evaluates early when woken by arriving spans or when a
        pending alert's ``for`` elapses. Folds are coalesced: at most one per
        ``min_fold_interval``, and never more than a quarter of the thread's time
        (the gap after a fold is at least three times the fold's own duration)."""
        engine = self.engine
        due = time.monotonic() + engine.tick()
        next_fold = 0.0  # monotonic: no fold on a wake before this
        while not self._stop.is_set():
            self._wake.wait(min(SIGNAL_POLL, max(0.0, min(due, self._deadline()) - time.monotonic())))
            if self._stop.is_set():
                break
            if self._reload_asked:
                self._reload_asked = False
                try:
                    self.reload()
                except Exception:
                    _log.exception("otelbundle: alert rules reload failed; the running rules stay")
            now = time.monotonic()
            if now < due and now < next_fold and self._stop.wait(next_fold - now):
                break
            started = time.monotonic()
            try:
                self._wake.clear()
                if started >= due:
                    changed = self.rule_files.changes() if self.rule_files is not None else None
                    if changed is not None:
                        self._apply(changed)
                    engine.evaluate(engine.clock())
                engine.fold(engine.clock())  # groups not due at this tick, deadlines
                if engine.processor.queued:  # a span that came in while the queue was being emptied
                    self._wake.set()
            except Exception:
                _log.exception("otelbundle: alert evaluation failed; will retry at the next tick")
            finished = time.monotonic()
            next_fold = max(started + engine.config.min_fold_interval, finished + 3 * (finished - started))
            if started >= due:
                due = finished + engine.tick()

    def _deadline(self) -> float:
        """The engine's next ``for`` deadline on the monotonic clock (infinity when none)."""
        at = self.engine.next_deadline()
        return math.inf if at == math.inf else time.monotonic() + (at - self.engine.clock())

    def stop(self, timeout: float = 2.0) -> None:
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout)

    # ---- reload --------------------------------------------------------------
    def reload(self) -> bool:
        """Re-read the config and rule files; keep running rules if the new ones are bad.

        Runs on the calling thread: the engine thread calls it (SIGHUP, a changed file),
        as may a program or test whose engine thread is not running."""
        config = self.rule_files.load() if self.rule_files is not None else None
        if config is None:
            return False
        self._apply(config)
        return True

    def _apply(self, config: AlertingConfig) -> None:
        """Swap in reloaded rules, and say (at each reload) which changed settings wait for a restart."""
        waiting = settings_needing_restart(self._started_with, config)
        count = self.engine.reload(config)
        _log.info("otelbundle: alert rules reloaded (%d rules)", count)
        if waiting:
            warn_seen(
                _log,
                "otelbundle: %s changed in %s; a reload does not apply %s: restart the application "
                "(`otelbundle config check` checks it now)",
                ", ".join(waiting),
                config.path,
                "it" if len(waiting) == 1 else "them",
            )

    def install_sighup(self) -> bool:
        """SIGHUP reloads rules, when the app has not claimed SIGHUP and we are on the main thread."""
        if threading.current_thread() is not threading.main_thread() or not hasattr(signal, "SIGHUP"):
            return False
        if signal.getsignal(signal.SIGHUP) is not signal.SIG_DFL:
            return False

        def on_sighup(signum: int, frame: object) -> None:
            # On the engine thread, as a rule file change is: a reload walks the alerts and
            # windows that thread evaluates, with no lock between them. Only a flag: the
            # handler runs on the main thread between two bytecodes, perhaps inside the
            # engine's wake Event (the app ends a span), and Event.set there took its
            # non-re-entrant lock again: the app's main thread hung. The engine thread
            # looks at the flag at least every SIGNAL_POLL seconds.
            self._reload_asked = True

        signal.signal(signal.SIGHUP, on_sighup)
        return True

    # ---- fork and exit -------------------------------------------------------
    def after_fork_in_child(self) -> None:
        """Pre-fork servers: each worker evaluates the spans it serves, on its own threads."""
        if self._stopped:
            return
        if self.rule_files is not None:
            self.rule_files.after_fork_in_child()
        self.dispatcher.after_fork_in_child()
        self.engine.after_fork_in_child()
        self._stop, self._wake = threading.Event(), threading.Event()  # a parent thread may have held them
        self._reload_asked = False
        if self._thread is not None:
            self.start()

    def shutdown(self) -> None:
        self._stopped = True
        forking.remove(FORK_HOOK)
        self.stop()
        self.dispatcher.shutdown(timeout=2.0)  # deliver what is queued, within the exit deadline


AlertingSetup = RuleManager
"""The name :func:`build_alerting` returned before the engine and its manager were split."""


# Settings a reload leaves as they were at start: the channels and their threads, the
# queues' sizes, and the sampler (which decides at start whether unsampled spans are
# recorded). Rebuilding them under a running application is not worth its risks.
RESTART_SETTINGS = ("notify", "notification_queue_size", "span_queue_size", "see_unsampled_spans")


def settings_needing_restart(running: AlertingConfig, reloaded: AlertingConfig) -> list[str]:
    """The ``alerting.`` settings that differ in ``reloaded`` but only apply at start."""
    return [
        f"alerting.{name}" for name in RESTART_SETTINGS if getattr(running, name) != getattr(reloaded, name)
    ]


def _named_by(problems: list[ConfigProblem]) -> list[str]:
    return sorted({problem.mark.file for problem in problems})


def _mtimes_of(path: str, rule_files: list[str]) -> dict[str, float]:
    result: dict[str, float] = {}
    for name in [path, *rule_files]:
        try:
            result[name] = os.stat(name).st_mtime
        except OSError:
            result[name] = -1.0
    return result


def start_alerting(
    config: AlertingConfig,
    env: Mapping[str, str],
    *,
    clock: Callable[[], float] | None = None,
    meter_provider: metrics.MeterProvider | None = None,
    scrubber: TextScrubber | None = None,
) -> RuleManager:
    """Notifiers, dispatcher, engine and its thread for a parsed ``alerting:`` section.

    Notifier problems are logged (one line each) and switch off only their channel.
    Instruments are created on ``meter_provider`` (the global one when None).
    ``scrubber`` cleans the evidence notifications carry (the distro passes the
    process's; without one, evidence leaves out its free texts: evidence.py).
    """
    notifiers = build_notifiers_at_start(config.notify, env=env)
    dispatcher = NotificationDispatcher(notifiers, queue_size=config.notification_queue_size)
    meter = alerting_meter(meter_provider)
    manager = RuleManager(
        config,
        dispatcher,
        telemetry=AlertTelemetry(meter=meter),
        clock=clock,
        rule_files=RuleFiles(config, env),
        scrubber=scrubber,
    )
    register_notification_metrics(dispatcher, meter)
    register_routing_metrics(dispatcher, meter)
    register_processor_metrics(manager.engine, meter)
    manager.install_sighup()
    manager.start()
    forking.on_child(FORK_HOOK, manager.after_fork_in_child)
    return manager


def build_alerting(
    config_path: str | None, env: Mapping[str, str], clock: Callable[[], float] | None = None
) -> RuleManager | None:
    """Read ``config_path`` and :func:`start_alerting`; None when it has no ``alerting:`` section.

    A section with problems starts too, with no rules running: see :func:`alerting_config_at_start`.

    The configurator reads the file once and calls :func:`start_alerting` itself;
    this is for tests and programs that hold a path.
    """
    if not config_path:
        return None
    document = open_at_start(config_path, env)
    config = alerting_config_at_start(document, env) if document is not None else None
    if config is None:
        return None
    return start_alerting(config, env, clock=clock)
