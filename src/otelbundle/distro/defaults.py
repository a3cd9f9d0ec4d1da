"""The ``opentelemetry_distro`` entry point: environment defaults, never overrides.

``opentelemetry-instrument`` calls :meth:`OtelBundleDistro._configure` before the
configurator. It only adds OTEL_* variables the user has not set (see
:data:`otelbundle.config.environment.OTEL_DEFAULTS` for each one and why), replaces values
the SDK would crash on with a one-line message naming the variable, and tells
once how to set ``service.name`` when it had to guess it.
"""

from __future__ import annotations

import logging
import os
import sys
from collections.abc import MutableMapping
from typing import Any

from opentelemetry.instrumentation.distro import BaseDistro  # type: ignore[attr-defined]

from otelbundle.config import env_checks, environment
from otelbundle.config.django_settings import settings_from_app
from otelbundle.config.report import diagnostics_logger
from otelbundle.distro import django_status, frameworks
from otelbundle.sdk import forking
from otelbundle.sdk.logs import correlation

_log = logging.getLogger("otelbundle")


def apply_defaults(env: MutableMapping[str, str], argv: list[str] | None = None) -> list[str]:
    """Fix invalid values, then add defaults; returns the messages to show the user.

    With OTEL_SDK_DISABLED=true nothing is configured, so there is nothing to fix or say.
    """
    if environment.sdk_disabled(env):
        return []
    messages: list[str] = []
    for problem in env_checks.invalid_values(env):
        messages.append(problem.message())
        if problem.replacement is None:
            del env[problem.name]
        else:
            env[problem.name] = problem.replacement
    additions = environment.default_environment(env, argv)
    env.update(additions)
    if "DJANGO_SETTINGS_MODULE" not in env:
        found = settings_from_app(
            list(sys.argv) if argv is None else argv, os.getcwd(), env.get("PYTHONPATH", "")
        )
        if found is not None:  # the value the app sets a moment later: nothing to warn about
            env["DJANGO_SETTINGS_MODULE"], named_in = found
            _log.debug("otelbundle: DJANGO_SETTINGS_MODULE=%s, as %s sets it", found[0], named_in)
    if "OTEL_SERVICE_NAME" in additions:
        messages.append(
            f"otelbundle: no service name set; using {additions['OTEL_SERVICE_NAME']!r} from the program name. "
            "Set OTEL_SERVICE_NAME (or service.name in OTEL_RESOURCE_ATTRIBUTES) to name it."
        )
    return messages


HEALTH_ENTRY_POINT = "otelbundle_health"


# multiprocessing's resource tracker: one helper process per parent that uses multiprocessing
# (uvicorn --workers starts one). It runs none of the app's code, yet under the wrapper it
# loaded every instrumentation and exported system and process metrics as one more instance
# of the service (91 MB resident against 12 MB; a reviewer counted a 4th "api" instance).
_HELPERS = ("from multiprocessing.resource_tracker import main",)


def multiprocessing_helper(orig_argv: list[str] | None = None) -> bool:
    """Whether this process is a helper multiprocessing starts with ``python -c``, not app code.

    Only the resource tracker: spawned workers (``multiprocessing.spawn``) are the app's own
    processes, and the forkserver's children inherit its environment."""
    argv = list(getattr(sys, "orig_argv", []) if orig_argv is None else orig_argv)
    words = iter(argv[1:])
    for word in words:  # the interpreter's options, up to the script or -c
        if word == "-c":
            return next(words, "").startswith(_HELPERS)
        if word in ("-X", "-W"):
            next(words, None)  # their value
        elif not word.startswith("-"):
            return False  # a script: what follows is its arguments
    return False


class OtelBundleDistro(BaseDistro):  # type: ignore[misc]
    def _configure(self, **kwargs: Any) -> None:
        if multiprocessing_helper():
            # The specification's switch, for this process only: no SDK, no threads, no exports.
            os.environ["OTEL_SDK_DISABLED"] = "true"
            return
        try:
            messages = apply_defaults(os.environ)
        except Exception:
            _log.exception("otelbundle: could not apply its defaults; the SDK's own defaults apply.")
            return
        for message in messages:
            diagnostics_logger().warning("%s", message)

    def load_instrumentor(self, entry_point: Any, **kwargs: Any) -> None:
        """Pass our options to contrib instrumentors (the hook distros are given)."""
        if multiprocessing_helper():
            return  # it runs no library worth instrumenting; importing them all cost ~80 MB
        if entry_point.name == "logging":
            kwargs = {**correlation.instrumentor_options(os.environ), **kwargs}
            before = list(logging.getLogger().handlers)
            super().load_instrumentor(entry_point, **kwargs)
            # Its OTLP handler's records are translated by otelbundle (sdk/logs/translation.py).
            correlation.note_installed_handler(before, kwargs, os.environ)
            return
        kwargs = {**frameworks.instrumentor_options(entry_point.name), **kwargs}
        if entry_point.name == HEALTH_ENTRY_POINT:
            if environment.sdk_disabled(os.environ):
                return  # OTEL_SDK_DISABLED=true: no check thread, no probe server
            # Its python checks' modules wait for the post-instrumentation hook (health/instrumentor.py).
            kwargs = {"defer_user_code": True, **kwargs}
        super().load_instrumentor(entry_point, **kwargs)
        if entry_point.name == "system_metrics":
            instrumentor_class = entry_point.load()
            prime_cpu_utilization(instrumentor_class())
            follow_forks(instrumentor_class)
        if entry_point.name == "django":
            django_status.add_client_error_middleware()


def prime_cpu_utilization(instrumentor: Any) -> None:
    """Start the CPU measurement behind process.cpu.utilization now, not at the first collection.

    The contrib reports ``psutil.Process.cpu_percent()``, the CPU used since the
    previous call; the first call has none and answers 0.0. A process whose first
    collection is its only one (a job shorter than the export interval, its exit's
    collection; a worker recycled within one) reported 0 % CPU however busy it was.
    """
    process = getattr(instrumentor, "_proc", None)  # the contrib's one handle (see follow_forks)
    if process is None:
        return
    try:
        process.cpu_percent()
    except Exception:  # psutil.Error (a process that cannot be read): the first value stays 0.0
        _log.debug("otelbundle: could not start the process CPU measurement", exc_info=True)


def follow_forks(instrumentor_class: Any) -> None:
    """Make process.* metrics describe the worker, not the parent, after fork().

    The contrib system-metrics instrumentor takes ``psutil.Process(os.getpid())``
    once, when instrumented. Under gunicorn (instrumented in the master) or
    multiprocessing every forked worker would then report its *parent's* CPU,
    memory and threads under its own service.instance.id. Until the contrib
    reads the pid lazily, the child re-points that one handle after fork, and
    primes its CPU measurement from the fork on.
    """
    import psutil

    def refresh_in_child() -> None:
        instance = instrumentor_class()  # BaseInstrumentor is a singleton
        if hasattr(instance, "_proc"):
            # The contrib offers no public way to re-point it; this is its one handle.
            instance._proc = psutil.Process(os.getpid())
            prime_cpu_utilization(instance)

    forking.on_child("system-metrics", refresh_in_child)
