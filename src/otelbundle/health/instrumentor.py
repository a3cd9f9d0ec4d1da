"""The ``otelbundle_health`` instrumentor: health checks from ``otelbundle.yaml``.

Loaded by ``opentelemetry-instrument`` like any instrumentation (and disabled
the standard way, ``OTEL_PYTHON_DISABLED_INSTRUMENTATIONS=otelbundle_health``).
It never raises into the application: a bad ``health:`` section is reported
once, every problem as ``file:line:column: message``, and the app runs
without health checks.
"""

from __future__ import annotations

import errno
import logging
import os
import socket
import threading
from collections.abc import Collection
from typing import Any

from opentelemetry.instrumentation.instrumentor import BaseInstrumentor  # type: ignore[attr-defined]

from otelbundle import scrub
from otelbundle.config import environment
from otelbundle.config.document import ConfigDocument, read_document, started_with
from otelbundle.health.messages import MessageScrub, scrubber_scrub
from otelbundle.health.outputs import HealthOutputs
from otelbundle.health.scheduler import Scheduler
from otelbundle.health.section import HealthConfig, HttpEndpoint, health_config_at_start
from otelbundle.health.server import HealthServer, listening_ancestor
from otelbundle.scrub.section import read_scrub_section
from otelbundle.sdk import forking

_logger = logging.getLogger("otelbundle.health")

# opentelemetry-instrument loads the logging instrumentation (which installs the
# OTLP log handler) after this one; the first round waits so that its
# state-change records are exported rather than lost.
START_DELAY_S = 1.0

_outputs: HealthOutputs | None = None
_outputs_lock = threading.Lock()
FORK_HOOK = "health-checks"


def _reset_outputs_lock() -> None:
    global _outputs_lock
    _outputs_lock = threading.Lock()  # a parent thread may have held it at fork


forking.on_child("health-outputs-lock", _reset_outputs_lock)


def _shared_outputs() -> HealthOutputs:
    global _outputs
    with _outputs_lock:
        if _outputs is None:
            _outputs = HealthOutputs()
        return _outputs


def message_scrub(document: ConfigDocument) -> MessageScrub:
    """The exporters' scrubbing rules (``scrub:`` additions, allowed keys, the hook) for check
    messages. With exports unscrubbed (``OTELBUNDLE_SCRUB=false``) the built-in rules still
    apply: ``/readyz`` and stderr are not behind the exporters, as notifications are not."""
    settings, _ = read_scrub_section(document, os.environ)  # its problems: logged by the configurator
    scrubber = scrub.build_scrubber(settings) or scrub.Scrubber(hook=scrub.current_hook())
    return scrubber_scrub(scrubber)


class HealthInstrumentor(BaseInstrumentor):  # type: ignore[misc]
    """Starts the check scheduler (and the optional probe server) for this process."""

    _scheduler: Scheduler | None = None
    _server: HealthServer | None = None
    _config: HealthConfig | None = None
    _scrub: MessageScrub | None = None
    _defer_user_code = False

    def instrumentation_dependencies(self) -> Collection[str]:
        return ()

    def _instrument(self, **kwargs: Any) -> None:
        """kwargs (for tests): ``config_path``, ``reader`` (a fake SystemReader).

        The ``health:`` section comes from the document the configurator read at
        start (:func:`otelbundle.config.document.started_with`); the file is read
        here only when there is none (the instrumentor used without our configurator).
        """
        try:
            path = kwargs.get("config_path") or environment.config_path(os.environ)
            if path is None:
                return
            document = started_with(path)
            if document is None:
                if not os.access(path, os.R_OK):
                    return  # no file; an unreadable OTELBUNDLE_CONFIG is reported by the configurator
                document = read_document(path)
            config = health_config_at_start(document, kwargs.get("reader"))  # problems: logged there
            if config is None:
                return
            self._config = config
            self._scrub = message_scrub(document)
            # Under opentelemetry-instrument (the distro says so) the user's check modules are
            # imported by after_instrumentation(), once every instrumentor is loaded.
            self._defer_user_code = bool(kwargs.get("defer_user_code"))
            self._start(config, with_server=True)
            forking.on_child(FORK_HOOK, self._after_fork)
        except Exception:
            _logger.exception(
                "otelbundle: health checks could not start; the application continues without them."
            )

    def _uninstrument(self, **kwargs: Any) -> None:
        forking.remove(FORK_HOOK)
        self._stop()
        self._config = None
        self._scrub = None

    @property
    def scheduler(self) -> Scheduler | None:
        return self._scheduler

    @property
    def server(self) -> HealthServer | None:
        return self._server

    def _start(self, config: HealthConfig, *, with_server: bool) -> None:
        outputs = _shared_outputs()
        scheduler = Scheduler(
            config.checks, outputs.on_result, start_delay_s=START_DELAY_S, scrub=self._scrub
        )
        outputs.attach(scheduler)
        self._scheduler = scheduler
        scheduler.start(prepare_user_code=not self._defer_user_code)
        if with_server and config.http is not None:
            try:
                self._server = HealthServer(scheduler, config.http.host, config.http.port)
                self._server.start()
            except OSError as exc:
                self._server = None
                holder = listening_ancestor(config.http.port) if exc.errno == errno.EADDRINUSE else None
                if holder is not None:
                    # A spawned worker or a reloaded server (uvicorn --workers/--reload, Django's
                    # runserver): the supervisor that started it serves the probes, as gunicorn's arbiter.
                    _logger.debug(
                        "otelbundle: health endpoint port %s is served by the parent process %d",
                        config.http.port,
                        holder,
                    )
                    return
                _logger.error(
                    "otelbundle: %shealth endpoint %s:%s could not listen (%s); checks still run.",
                    _where(config.http, exc),
                    config.http.host,
                    config.http.port,
                    exc,
                )

    def _stop(self) -> None:
        if self._server is not None:
            self._server.stop()
            self._server = None
        if self._scheduler is not None:
            self._scheduler.stop()
            self._scheduler = None
        _shared_outputs().attach(None)

    def _after_fork(self) -> None:
        """Threads do not survive fork(): give the child its own scheduler.

        The probe server is not restarted: its port belongs to the parent
        (gunicorn's arbiter), which keeps answering probes.
        """
        if self._config is None or self._scheduler is None:
            return
        _shared_outputs().after_fork()
        if self._server is not None:
            self._server.close_inherited()
        self._scheduler = None
        self._server = None
        self._start(self._config, with_server=False)


def after_instrumentation() -> None:
    """``opentelemetry_post_instrument`` entry point: import the python checks' modules now that
    every instrumentor is loaded (imported while ours was, a module creating a Flask app at
    import made it before the Flask instrumentor could). Never raises into the app's start-up."""
    try:
        scheduler = HealthInstrumentor().scheduler  # the instrumentors are singletons
        if scheduler is not None:
            scheduler.prepare_user_code()
    except Exception:
        _logger.exception("otelbundle: health checks' modules could not be imported at start")


def _where(http: HttpEndpoint, exc: OSError) -> str:
    """``file:line:col: `` of the setting that failed: the host when this machine has no such
    address or name, else the port (in use, or below 1024 without the right)."""
    about_host = isinstance(exc, socket.gaierror) or exc.errno == errno.EADDRNOTAVAIL
    mark = http.host_mark if about_host and http.host_mark is not None else http.port_mark
    return f"{mark}: " if mark is not None else ""
