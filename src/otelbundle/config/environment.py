"""Every environment variable otelbundle reads or defaults, in one place.

The environment is passed in as a mapping (tests pass a dict) rather than read
from ``os.environ`` here, so defaults and validation are pure functions.

Two jobs:

* :func:`default_environment` — the OTEL_* defaults the distro sets. They are
  only ever defaults: a variable the user set is never replaced (except when its
  value is invalid, see below).
* :func:`invalid_values` — values the SDK would crash on or silently ignore.
  The SDK raises deep inside start-up for ``OTEL_EXPORTER_OTLP_PROTOCOL=foo``
  (disabling *all* telemetry with a traceback) and logs a traceback for a
  non-numeric ``OTEL_BSP_SCHEDULE_DELAY``. We say once, by name, what is wrong
  and what we use instead, and the app keeps running.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping
from dataclasses import dataclass

from otelbundle.version import __version__

DISTRO_NAME = "otelbundle"

# Metrics from the contrib system-metrics instrumentor that are kept by default.
# Everything else it can produce is excluded through its own variable
# (OTEL_PYTHON_SYSTEM_METRICS_EXCLUDED_METRICS), so users widen or narrow the set
# with the contrib's documented knob, not ours. The excluded ones are either
# deprecated duplicates (process.runtime.*), rarely actionable per process
# (swap, packet/error counters, context switches) or expensive
# (system.network.connections walks every socket on the host).
SYSTEM_METRICS_EXCLUDED_BY_DEFAULT = ",".join(
    [
        "system.cpu.time",
        "system.swap.*",
        "system.disk.operations",
        "system.disk.time",
        "system.network.dropped.packets",
        "system.network.packets",
        "system.network.errors",
        "system.network.connections",
        "system.thread_count",
        "process.context_switches",
        "process.disk.io",
        "process.memory.virtual",
        "process.open_file_descriptor.count",
        "process.runtime.*",
    ]
)

# The defaults the distro sets when the user has not. Why each one:
OTEL_DEFAULTS: dict[str, str] = {
    # All three signals leave the process over OTLP.
    "OTEL_TRACES_EXPORTER": "otlp",
    "OTEL_METRICS_EXPORTER": "otlp",
    "OTEL_LOGS_EXPORTER": "otlp",
    # HTTP rather than gRPC: it is the specification's default, and gRPC channels
    # do not survive fork() (gunicorn --preload, multiprocessing) without care.
    "OTEL_EXPORTER_OTLP_PROTOCOL": "http/protobuf",
    # Seconds per export attempt including retries. The SDK's 10 s means an app
    # whose collector is blackholed takes tens of seconds to exit; 5 s bounds the
    # final flush (all signals are flushed in parallel at exit).
    "OTEL_EXPORTER_OTLP_TIMEOUT": "5",
    # Resource: process, OS, host and container id; OTEL_RESOURCE_ATTRIBUTES
    # ("otel") is always applied last by the SDK, so the user's values win.
    "OTEL_EXPERIMENTAL_RESOURCE_DETECTORS": "process,os,host,containerid",
    # The contrib logging instrumentor exports `logging` records as OTLP logs.
    "OTEL_PYTHON_LOG_AUTO_INSTRUMENTATION": "true",
    "OTEL_PYTHON_SYSTEM_METRICS_EXCLUDED_METRICS": SYSTEM_METRICS_EXCLUDED_BY_DEFAULT,
    # Pick our configurator even when another distro's is installed too.
    "OTEL_PYTHON_CONFIGURATOR": DISTRO_NAME,
}

OTLP_PROTOCOLS = ("grpc", "http/protobuf")

# (variable, kind) for values the SDK parses and mishandles when malformed.
_NUMERIC_VARIABLES: tuple[tuple[str, type], ...] = (
    ("OTEL_BSP_SCHEDULE_DELAY", int),
    ("OTEL_BSP_MAX_QUEUE_SIZE", int),
    ("OTEL_BSP_MAX_EXPORT_BATCH_SIZE", int),
    ("OTEL_BSP_EXPORT_TIMEOUT", int),
    ("OTEL_BLRP_SCHEDULE_DELAY", int),
    ("OTEL_BLRP_MAX_QUEUE_SIZE", int),
    ("OTEL_BLRP_MAX_EXPORT_BATCH_SIZE", int),
    ("OTEL_BLRP_EXPORT_TIMEOUT", int),
    ("OTEL_METRIC_EXPORT_INTERVAL", int),
    ("OTEL_METRIC_EXPORT_TIMEOUT", int),
    ("OTEL_EXPORTER_OTLP_TIMEOUT", float),
    ("OTEL_EXPORTER_OTLP_TRACES_TIMEOUT", float),
    ("OTEL_EXPORTER_OTLP_METRICS_TIMEOUT", float),
    ("OTEL_EXPORTER_OTLP_LOGS_TIMEOUT", float),
    ("OTEL_TRACES_SAMPLER_ARG", float),
)

_TRUE = ("true", "1", "yes", "on")
_FALSE = ("false", "0", "no", "off", "")


@dataclass(frozen=True)
class InvalidValue:
    """A variable whose value cannot be used; ``replacement`` None means unset it."""

    name: str
    value: str
    reason: str
    replacement: str | None

    def message(self) -> str:
        fix = f"using {self.replacement!r} instead" if self.replacement is not None else "ignoring it"
        return f"otelbundle: {self.name}={self.value!r} {self.reason}; {fix}."


def invalid_values(env: Mapping[str, str]) -> list[InvalidValue]:
    """Every OTEL_*/OTELBUNDLE_* value that the SDK or we cannot use."""
    problems: list[InvalidValue] = []
    for name in (
        "OTEL_EXPORTER_OTLP_PROTOCOL",
        "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL",
        "OTEL_EXPORTER_OTLP_METRICS_PROTOCOL",
        "OTEL_EXPORTER_OTLP_LOGS_PROTOCOL",
    ):
        value = env.get(name)
        if value is not None and value.strip() not in OTLP_PROTOCOLS:
            fallback = (
                OTEL_DEFAULTS["OTEL_EXPORTER_OTLP_PROTOCOL"]
                if name == "OTEL_EXPORTER_OTLP_PROTOCOL"
                else None
            )
            problems.append(InvalidValue(name, value, f"is not one of {', '.join(OTLP_PROTOCOLS)}", fallback))
    for name, kind in _NUMERIC_VARIABLES:
        value = env.get(name)
        if value is None or value.strip() == "":
            continue
        try:
            number = kind(value.strip())
        except ValueError:
            problems.append(
                InvalidValue(name, value, f"is not a{'n integer' if kind is int else ' number'}", None)
            )
            continue
        if number < 0:
            problems.append(InvalidValue(name, value, "is negative", None))
    for name in ("OTEL_PYTHON_LOG_CORRELATION", "OTELBUNDLE_SCRUB"):
        value = env.get(name)
        if value is not None and value.strip().lower() not in _TRUE + _FALSE:
            problems.append(InvalidValue(name, value, "is not true or false", None))
    value = env.get("OTELBUNDLE_LOG_CORRELATION")
    if value is not None and log_correlation_mode(env) is None:
        problems.append(
            InvalidValue("OTELBUNDLE_LOG_CORRELATION", value, "is not true, false or fields", None)
        )
    return problems


def flag(env: Mapping[str, str], name: str, default: bool = False) -> bool:
    value = env.get(name)
    if value is None:
        return default
    return value.strip().lower() in _TRUE


def user_resource_attributes(env: Mapping[str, str]) -> dict[str, str]:
    """OTEL_RESOURCE_ATTRIBUTES as the SDK parses it (k=v,k=v; values URL-decoded)."""
    from urllib.parse import unquote

    result: dict[str, str] = {}
    for item in env.get("OTEL_RESOURCE_ATTRIBUTES", "").split(","):
        key, sep, value = item.partition("=")
        if sep and key.strip():
            result[key.strip()] = unquote(value.strip())
    return result


def user_set_service_name(env: Mapping[str, str]) -> bool:
    return bool(env.get("OTEL_SERVICE_NAME", "").strip()) or "service.name" in user_resource_attributes(env)


def program_service_name(argv: list[str] | None = None, orig_argv: list[str] | None = None) -> str:
    """A service name from how the program was started: `python app.py` → app,
    `python -m pkg.mod` → pkg.mod, `gunicorn shop.wsgi:app` → shop.wsgi.

    ``argv`` is ``sys.argv`` and ``orig_argv`` the interpreter's command line
    (``sys.orig_argv``, Python 3.10+). Both default to the running process's
    only when ``argv`` is not given, so tests pass exactly what Python would.
    The module of ``python -m`` is read from ``orig_argv``: while
    ``sitecustomize`` runs (where ``opentelemetry-instrument`` configures the
    distro) ``sys.argv`` is ``['-m', *args]`` without the module's name, and
    later it is the module's file path.
    """
    if argv is None:
        args = list(sys.argv)
        interpreter_args = list(getattr(sys, "orig_argv", []) if orig_argv is None else orig_argv)
    else:
        args, interpreter_args = argv, orig_argv or []
    module = _module_run_by(interpreter_args)
    if module is not None:
        program = module
    elif not args or not args[0] or args[0] in ("-c", "-m"):
        return "python"
    else:
        program = os.path.basename(args[0])
        if program == "__main__.py" and len(args) > 1:
            program = args[1]
    if program.startswith(("gunicorn", "uvicorn", "celery", "hypercorn")):
        target = next((a for a in args[1:] if ":" in a and not a.startswith("-")), "")
        return target.partition(":")[0] or program
    if module is not None:
        return module
    if program.endswith(".py"):
        program = program[: -len(".py")]
    if program in ("app", "main", "wsgi", "asgi", "server", "run") and len(args[0].split(os.sep)) > 1:
        # `python services/storefront/app.py` says more by its folder than by "app".
        parent = os.path.basename(os.path.dirname(os.path.abspath(args[0])))
        return parent or program
    return program or "python"


# Interpreter options that take a value (`-X dev`, `-W error`, also written `-Xdev`).
_OPTIONS_WITH_VALUE = "XW"


def _module_run_by(orig_argv: list[str]) -> str | None:
    """The MODULE of `python [options] -m MODULE ...` (also `-mMODULE`, `-Im MODULE`), else None."""
    words = orig_argv[1:]
    index = 0
    while index < len(words):
        word = words[index]
        index += 1
        if word == "--check-hash-based-pycs":
            index += 1
            continue
        if word.startswith("--"):
            continue
        if not word.startswith("-") or word == "-":
            return None  # a script (or stdin): options end here
        for position, letter in enumerate(word[1:], start=2):
            if letter in _OPTIONS_WITH_VALUE:
                index += 0 if word[position:] else 1
                break
            if letter == "c":
                return None
            if letter == "m":
                module = word[position:] or (words[index] if index < len(words) else "")
                return module or None
    return None


def default_environment(env: Mapping[str, str], argv: list[str] | None = None) -> dict[str, str]:
    """The variables to add to ``env``: only names the user has not set."""
    additions = {name: value for name, value in OTEL_DEFAULTS.items() if name not in env}
    if not user_set_service_name(env):
        additions["OTEL_SERVICE_NAME"] = program_service_name(argv)
    return additions


def distro_resource_attributes(env: Mapping[str, str]) -> dict[str, str]:
    """telemetry.distro.* for the resource, unless the user set them (theirs win)."""
    ours = {"telemetry.distro.name": DISTRO_NAME, "telemetry.distro.version": __version__}
    theirs = user_resource_attributes(env)
    return {key: value for key, value in ours.items() if key not in theirs}


def config_path(env: Mapping[str, str], cwd: str | None = None) -> str | None:
    """OTELBUNDLE_CONFIG, else ./otelbundle.yaml when it exists, else None."""
    explicit = env.get("OTELBUNDLE_CONFIG", "").strip()
    if explicit:
        return explicit
    candidate = os.path.join(cwd or os.getcwd(), "otelbundle.yaml")
    return candidate if os.path.isfile(candidate) else None


def log_correlation_mode(env: Mapping[str, str]) -> str | None:
    """OTELBUNDLE_LOG_CORRELATION as ``"true"``, ``"false"`` or ``"fields"``; None when invalid.

    ``fields`` is a third value, not a boolean: the ids go into every record for the
    app's own formats, without a stdout handler (docs/logging.md).
    """
    value = env.get("OTELBUNDLE_LOG_CORRELATION", "").strip().lower()
    if value == "fields":
        return "fields"
    if value in _TRUE:
        return "true"
    return "false" if value in _FALSE else None


def log_correlation(env: Mapping[str, str]) -> bool:
    """stdout lines carry trace_id/span_id: our variable, or the contrib's."""
    return log_correlation_mode(env) == "true" or flag(env, "OTEL_PYTHON_LOG_CORRELATION")


def shutdown_timeout(env: Mapping[str, str]) -> float:
    """Seconds the exit-time flush may take in total (all signals in parallel)."""
    try:
        return max(0.0, float(env.get("OTELBUNDLE_SHUTDOWN_TIMEOUT", "") or 5.0))
    except ValueError:
        return 5.0
