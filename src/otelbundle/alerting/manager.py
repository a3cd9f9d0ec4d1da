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
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from opentelemetry.sdk.trace import SpanProcessor

from otelbundle.alerting.engine import Engine
from otelbundle.alerting.instance import process_labels
from otelbundle.alerting.notify import NotificationDispatcher, build_notifiers_at_start
from otelbundle.alerting.processor import DEFAULT_QUEUE_SIZE, AlertingSpanProcessor
from otelbundle.alerting.section import AlertingConfig, load_alerting_at_start, load_alerting_config
from otelbundle.alerting.telemetry import AlertTelemetry
from otelbundle.config import ConfigError
from otelbundle.config.report import log_problems
from otelbundle.sdk import forking
from otelbundle.sdk.export.report import diagnostics_logger

_log = logging.getLogger("otelbundle.alerting")
RELOAD_CHECK_INTERVAL = 2.0
FORK_HOOK = "alert-rules"


class RuleFiles:
    """The config and rule files the running rules came from, and whether they changed.

    ``changes`` is what the engine asks on each tick (at most every
    RELOAD_CHECK_INTERVAL it compares modification times); ``load`` re-reads on
    demand (SIGHUP). A bad file is reported and yields None: the running rules stay.
    """

    def __init__(self, config: AlertingConfig, env: Mapping[str, str]) -> None:
        self.path = config.path
        self.env = env
        self._mtimes = _mtimes(config)
        self._last_check = 0.0
        self._lock = threading.Lock()

    def changes(self) -> AlertingConfig | None:
        now = time.monotonic()
        if now - self._last_check < RELOAD_CHECK_INTERVAL:
            return None
        self._last_check = now
        return self.load() if _mtimes_of(self.path, self._rule_files) != self._mtimes else None

    @property
    def _rule_files(self) -> list[str]:
        return [p for p in self._mtimes if p != self.path]

    def load(self) -> AlertingConfig | None:
        with self._lock:
            try:
                config = load_alerting_config(self.path, self.env)
            except ConfigError as exc:
                log_problems(
                    exc.problems,
                    "alert rules not reloaded because of {n} problem(s); the running rules stay",
                    once=False,
                )
                return None
            except Exception as exc:
                diagnostics_logger().error("otelbundle: alert rules not reloaded: %s", exc)
                return None
            if config is None:
                config = AlertingConfig(path=self.path)
            self._mtimes = _mtimes(config)
            return config

    def after_fork_in_child(self) -> None:
        self._lock = threading.Lock()


@dataclass
class AlertingSetup:
    span_processors: list[SpanProcessor]
    see_unsampled_spans: bool
    engine: Engine
    processor: AlertingSpanProcessor
    dispatcher: NotificationDispatcher
    rule_files: RuleFiles
    _stopped: bool = False

    def reload(self) -> bool:
        """Re-read the config and rule files; keep running rules if the new ones are bad."""
        config = self.rule_files.load()
        if config is None:
            return False
        count = self.engine.reload(config)
        _log.info("otelbundle: alert rules reloaded (%d rules)", count)
        return True

    def after_fork_in_child(self) -> None:
        """Pre-fork servers: each worker evaluates the spans it serves, on its own threads."""
        if self._stopped:
            return
        self.rule_files.after_fork_in_child()
        self.dispatcher.after_fork_in_child()
        self.engine.after_fork_in_child()

    def shutdown(self) -> None:
        self._stopped = True
        forking.remove(FORK_HOOK)
        self.engine.stop()
        self.dispatcher.shutdown(timeout=2.0)  # deliver what is queued, within the exit deadline


def _mtimes(config: AlertingConfig) -> dict[str, float]:
    return _mtimes_of(config.path, config.rule_files)


def _mtimes_of(path: str, rule_files: list[str]) -> dict[str, float]:
    result: dict[str, float] = {}
    for name in [path, *rule_files]:
        try:
            result[name] = os.stat(name).st_mtime
        except OSError:
            result[name] = -1.0
    return result


def build_alerting(
    config_path: str | None, env: Mapping[str, str], clock: Callable[[], float] = time.time
) -> AlertingSetup | None:
    if not config_path:
        return None
    config = load_alerting_at_start(config_path, env)  # problems: logged by otelbundle.config
    if config is None:
        return None
    notifiers = build_notifiers_at_start(config.notify, env=env)  # problems: logged by otelbundle.config
    dispatcher = NotificationDispatcher(notifiers, queue_size=config.notification_queue_size)
    _self_metrics(dispatcher)
    rule_files = RuleFiles(config, env)
    engine = Engine(
        config,
        dispatcher,
        clock=clock,
        telemetry=AlertTelemetry(),
        queue_size=config.span_queue_size,
        updates=rule_files.changes,
        process_labels=process_labels,
    )
    setup = AlertingSetup(
        span_processors=[engine.processor],
        see_unsampled_spans=config.see_unsampled_spans,
        engine=engine,
        processor=engine.processor,
        dispatcher=dispatcher,
        rule_files=rule_files,
    )
    _processor_metrics(engine)
    _install_sighup(setup)
    engine.start()
    forking.on_child(FORK_HOOK, setup.after_fork_in_child)
    return setup


def connect_processor(engine: Engine, queue_size: int = DEFAULT_QUEUE_SIZE) -> AlertingSpanProcessor:
    """Deprecated: build the engine with ``Engine(..., queue_size=N)`` and use ``engine.processor``.

    Kept for callers written before the engine owned its processor; the
    processor is returned, its queue resized to ``queue_size``.
    """
    engine.processor.resize(queue_size)
    return engine.processor


def _self_metrics(dispatcher: NotificationDispatcher) -> None:
    """otelbundle.alerting.notifications.sent/failed/dropped/retried per notifier (global MeterProvider)."""
    try:
        from opentelemetry import metrics

        from otelbundle.alerting.notify.metrics import register_notification_metrics

        register_notification_metrics(dispatcher, metrics.get_meter("otelbundle.alerting"))
    except Exception:
        _log.debug("notification metrics not registered", exc_info=True)


def _processor_metrics(engine: Engine) -> None:
    """Spans seen, dropped from a full queue, folded into overflow groups, and failed on."""
    from opentelemetry import metrics
    from opentelemetry.metrics import CallbackOptions, Observation

    meter = metrics.get_meter("otelbundle.alerting")
    processor = engine.processor

    def seen(options: CallbackOptions) -> list[Observation]:
        return [Observation(processor.spans_seen)]

    def overflowed(options: CallbackOptions) -> list[Observation]:
        return [
            Observation(state.overflowed_spans, {"alertname": name})
            for (group, name), state in engine.states.items()
        ]

    def dropped(options: CallbackOptions) -> list[Observation]:
        return [Observation(processor.spans_dropped)]

    def failed(options: CallbackOptions) -> list[Observation]:
        return [Observation(processor.errors)]

    for name, callback, description in (
        ("seen", seen, "Spans handed to the alert rules"),
        ("dropped", dropped, "Spans dropped because the alert rules' queue was full (oldest first)"),
        ("overflowed", overflowed, "Spans folded into a rule's overflow group (too many group-by keys)"),
        ("failed", failed, "Spans whose evaluation by the alert rules raised an error"),
    ):
        meter.create_observable_counter(
            f"otelbundle.alerting.spans.{name}", callbacks=[callback], unit="{span}", description=description
        )


def _install_sighup(setup: AlertingSetup) -> None:
    """SIGHUP reloads rules, when the app has not claimed SIGHUP and we are on the main thread."""
    if threading.current_thread() is not threading.main_thread() or not hasattr(signal, "SIGHUP"):
        return
    if signal.getsignal(signal.SIGHUP) is not signal.SIG_DFL:
        return

    def on_sighup(signum: int, frame: object) -> None:
        threading.Thread(target=setup.reload, name="otelbundle-rules-reload", daemon=True).start()

    signal.signal(signal.SIGHUP, on_sighup)
