"""Assemble the alert engine for the configurator: config -> processor -> engine -> notifiers.

``build_alerting`` never raises: a bad config is reported once (every problem
as file:line:column) and the app runs without alert rules. A bad *reload*
keeps the rules that were running.
"""

from __future__ import annotations

import logging
import os
import signal
import threading
import time
import weakref
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

from opentelemetry.sdk.trace import SpanProcessor

from otelbundle.alerting.config import AlertingConfig, load_alerting_config
from otelbundle.alerting.engine import Engine
from otelbundle.alerting.notify import NotificationDispatcher, build_notifiers
from otelbundle.alerting.processor import DEFAULT_QUEUE_SIZE, AlertingSpanProcessor
from otelbundle.alerting.telemetry import AlertTelemetry
from otelbundle.exporting import diagnostics_logger
from otelbundle.yamlconf import ConfigError

_log = logging.getLogger("otelbundle.alerting")
RELOAD_CHECK_INTERVAL = 2.0


@dataclass
class AlertingSetup:
    span_processors: list[SpanProcessor]
    see_unsampled_spans: bool
    engine: Engine
    processor: AlertingSpanProcessor
    dispatcher: NotificationDispatcher
    config_path: str
    env: Mapping[str, str]
    _mtimes: dict[str, float] = field(default_factory=dict)
    _last_check: float = 0.0
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _stopped: bool = False

    def reload(self) -> bool:
        """Re-read the config and rule files; keep running rules if the new ones are bad."""
        with self._lock:
            try:
                config = load_alerting_config(self.config_path, self.env)
            except ConfigError as exc:
                diagnostics_logger().error(
                    "otelbundle: alert rules not reloaded, the running rules stay:\n%s", exc
                )
                return False
            except Exception as exc:
                diagnostics_logger().error("otelbundle: alert rules not reloaded: %s", exc)
                return False
            if config is None:
                config = AlertingConfig(path=self.config_path)
            states = self.engine.load(config, now=self.engine.clock())
            self.processor.replace_rules(states)
            self._mtimes = _mtimes(config)
            _log.info("otelbundle: alert rules reloaded (%d rules)", len(config.rules))
            return True

    def check_for_changes(self) -> None:
        now = time.monotonic()
        if now - self._last_check < RELOAD_CHECK_INTERVAL:
            return
        self._last_check = now
        if _mtimes(self.engine.config) != self._mtimes:
            self.reload()

    def after_fork_in_child(self) -> None:
        """Pre-fork servers: each worker evaluates the spans it serves, on its own threads."""
        if self._stopped:
            return
        self._lock = threading.Lock()
        self.processor.after_fork_in_child()
        self.dispatcher.after_fork_in_child()
        self.engine.after_fork_in_child()

    def shutdown(self) -> None:
        self._stopped = True
        self.engine.stop()
        self.dispatcher.shutdown(timeout=2.0)  # deliver what is queued, within the exit deadline


def _mtimes(config: AlertingConfig) -> dict[str, float]:
    result: dict[str, float] = {}
    for path in [config.path, *config.rule_files]:
        try:
            result[path] = os.stat(path).st_mtime
        except OSError:
            result[path] = -1.0
    return result


def build_alerting(
    config_path: str | None, env: Mapping[str, str], clock: Callable[[], float] = time.time
) -> AlertingSetup | None:
    if not config_path:
        return None
    try:
        config = load_alerting_config(config_path, env)
    except ConfigError as exc:
        diagnostics_logger().error(
            "otelbundle: alert rules are off because of problems in the configuration:\n%s", exc
        )
        return None
    if config is None:
        return None
    notifiers, problems = build_notifiers(config.notify, env=env)
    for problem in problems:
        diagnostics_logger().error("otelbundle: %s", problem)
    dispatcher = NotificationDispatcher(notifiers, queue_size=config.notification_queue_size)
    _self_metrics(dispatcher)
    engine = Engine(config, dispatcher, clock=clock, telemetry=AlertTelemetry())
    processor = connect_processor(engine, queue_size=config.span_queue_size)
    setup = AlertingSetup(
        span_processors=[processor],
        see_unsampled_spans=config.see_unsampled_spans,
        engine=engine,
        processor=processor,
        dispatcher=dispatcher,
        config_path=config_path,
        env=env,
    )
    setup._mtimes = _mtimes(config)
    _processor_metrics(setup)
    engine.on_tick = setup.check_for_changes
    _install_sighup(setup)
    engine.start()
    _follow_forks(setup)
    return setup


def _follow_forks(setup: AlertingSetup) -> None:
    """Restart the engine and notifier threads in fork children (gunicorn, multiprocessing)."""
    if not hasattr(os, "register_at_fork"):
        return
    reference = weakref.ref(setup)  # a setup that is gone needs no restart

    def in_child() -> None:
        alive = reference()
        if alive is not None:
            try:
                alive.after_fork_in_child()
            except Exception:
                _log.exception("otelbundle: alert rules could not restart after fork")

    os.register_at_fork(after_in_child=in_child)


def connect_processor(engine: Engine, queue_size: int = DEFAULT_QUEUE_SIZE) -> AlertingSpanProcessor:
    """A processor whose queue the engine drains: before each evaluation, and when woken."""
    processor = AlertingSpanProcessor(engine.states.values(), queue_size=queue_size, wakeup=engine.wake)
    engine.intake = processor.drain
    return processor


def _self_metrics(dispatcher: NotificationDispatcher) -> None:
    """otelbundle.notifications.sent/failed/dropped/retried per notifier, via the global MeterProvider."""
    try:
        from opentelemetry import metrics

        from otelbundle.alerting.notify.metrics import register_notification_metrics

        register_notification_metrics(dispatcher, metrics.get_meter("otelbundle.alerting"))
    except Exception:
        _log.debug("notification metrics not registered", exc_info=True)


def _processor_metrics(setup: AlertingSetup) -> None:
    """Spans seen, dropped from a full queue, folded into overflow groups, and failed on."""
    from opentelemetry import metrics
    from opentelemetry.metrics import CallbackOptions, Observation

    meter = metrics.get_meter("otelbundle.alerting")

    def seen(options: CallbackOptions) -> list[Observation]:
        return [Observation(setup.processor.spans_seen)]

    def overflowed(options: CallbackOptions) -> list[Observation]:
        return [
            Observation(state.overflowed_spans, {"alertname": name})
            for (group, name), state in setup.engine.states.items()
        ]

    def dropped(options: CallbackOptions) -> list[Observation]:
        return [Observation(setup.processor.spans_dropped)]

    def failed(options: CallbackOptions) -> list[Observation]:
        return [Observation(setup.processor.errors)]

    meter.create_observable_counter("otelbundle.alerting.spans.seen", callbacks=[seen])
    meter.create_observable_counter("otelbundle.alerting.spans.dropped", callbacks=[dropped])
    meter.create_observable_counter("otelbundle.alerting.spans.overflowed", callbacks=[overflowed])
    meter.create_observable_counter("otelbundle.alerting.spans.failed", callbacks=[failed])


def _install_sighup(setup: AlertingSetup) -> None:
    """SIGHUP reloads rules, when the app has not claimed SIGHUP and we are on the main thread."""
    if threading.current_thread() is not threading.main_thread() or not hasattr(signal, "SIGHUP"):
        return
    if signal.getsignal(signal.SIGHUP) is not signal.SIG_DFL:
        return

    def on_sighup(signum: int, frame: object) -> None:
        threading.Thread(target=setup.reload, name="otelbundle-rules-reload", daemon=True).start()

    signal.signal(signal.SIGHUP, on_sighup)
