"""Every environment variable otelbundle reads or defaults, in one table: :data:`VARIABLES`.

The environment is passed in as a mapping (tests pass a dict) rather than read
from ``os.environ`` here, so defaults and validation are pure functions. Each
row says what an unset variable means (the SDK's default for ``OTEL_*``, ours for
``OTELBUNDLE_*``) and, separately, what the distro sets when the user has not:
code that reads a variable asks :func:`get`, so no two places assume
different defaults.

Three jobs, the third in its own module:

* :data:`VARIABLES` — the table; :func:`get` reads a variable with its default.

* :func:`default_environment` — the OTEL_* defaults the distro sets. They are
  only ever defaults: a variable the user set is never replaced (except when its
  value is invalid, see below).
* :func:`otelbundle.config.env_checks.invalid_values` — values the SDK would
  crash on or silently misread, found before it starts (env_checks.py).
"""

from __future__ import annotations

import math
import os
import re
import sys
import threading
from collections.abc import Mapping
from dataclasses import dataclass

from otelbundle.version import __version__


@dataclass(frozen=True)
class Variable:
    """One environment variable: what unset means, what the distro sets (if anything), and why."""

    name: str
    unset: str
    distro_sets: str | None = None
    why: str = ""


DISTRO_NAME = "otelbundle"

# Metrics from the contrib system-metrics instrumentor that are kept by default.
# Everything else it can produce is excluded through its own variable
# (OTEL_PYTHON_SYSTEM_METRICS_EXCLUDED_METRICS), so users widen or narrow the set
# with the contrib's documented knob, not ours. The excluded ones are either
# deprecated duplicates (process.runtime.*), rarely actionable per process
# (swap, packet/error counters, context switches), expensive
# (system.network.connections walks every socket on the host), or host figures with a
# series per block device or network interface (system.disk.io, system.network.io: a
# host with snaps has dozens of loop devices, a node dozens of veth interfaces), sent
# again by every process and used by no shipped rule or dashboard.
SYSTEM_METRICS_EXCLUDED_BY_DEFAULT = ",".join(
    [
        "system.cpu.time",
        "system.disk.io",
        "system.network.io",
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

# The table. ``unset`` is what the SDK (OTEL_*) or otelbundle (OTELBUNDLE_*) does
# when the variable is not set; ``distro_sets`` is what the distro puts in the
# environment before the SDK starts, only where the user has not set it.
VARIABLES: tuple[Variable, ...] = (
    # The specification's off switch: "true" (as the SDK reads it) and nothing of ours starts.
    Variable("OTEL_SDK_DISABLED", "false", None, "true: no SDK, no otelbundle threads, checks or rules"),
    # All three signals leave the process over OTLP.
    Variable("OTEL_TRACES_EXPORTER", "otlp", "otlp", "all three signals leave the process over OTLP"),
    Variable("OTEL_METRICS_EXPORTER", "otlp", "otlp", "all three signals leave the process over OTLP"),
    Variable("OTEL_LOGS_EXPORTER", "otlp", "otlp", "all three signals leave the process over OTLP"),
    # HTTP rather than gRPC: it is the specification's default, and gRPC channels
    # do not survive fork() (gunicorn --preload, multiprocessing) without care.
    # Unset (the distro not loaded), the SDK's configurator picks gRPC.
    Variable("OTEL_EXPORTER_OTLP_PROTOCOL", "grpc", "http/protobuf", "the spec's default; survives fork()"),
    Variable(
        "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL", "", None, "per signal; OTEL_EXPORTER_OTLP_PROTOCOL when unset"
    ),
    Variable(
        "OTEL_EXPORTER_OTLP_METRICS_PROTOCOL", "", None, "per signal; OTEL_EXPORTER_OTLP_PROTOCOL when unset"
    ),
    Variable(
        "OTEL_EXPORTER_OTLP_LOGS_PROTOCOL", "", None, "per signal; OTEL_EXPORTER_OTLP_PROTOCOL when unset"
    ),
    Variable("OTEL_EXPORTER_OTLP_ENDPOINT", "", None, "unset: localhost:4317 (gRPC) or :4318 (HTTP)"),
    # Read only to check them (env_checks.py): over HTTP each is the full URL, path included.
    Variable("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "", None, "per signal; checked for http(s)://"),
    Variable("OTEL_EXPORTER_OTLP_METRICS_ENDPOINT", "", None, "per signal; checked for http(s)://"),
    Variable("OTEL_EXPORTER_OTLP_LOGS_ENDPOINT", "", None, "per signal; checked for http(s)://"),
    # A credential provider makes the OTLP/HTTP exporters load the user's own requests
    # session; the distro's fork-aware session is then not given (sdk/export/http_session.py).
    Variable(
        "OTEL_PYTHON_EXPORTER_OTLP_HTTP_CREDENTIAL_PROVIDER", "", None, "the user's session, all signals"
    ),
    Variable(
        "OTEL_PYTHON_EXPORTER_OTLP_HTTP_TRACES_CREDENTIAL_PROVIDER", "", None, "the user's span session"
    ),
    Variable("OTEL_PYTHON_EXPORTER_OTLP_HTTP_LOGS_CREDENTIAL_PROVIDER", "", None, "the user's log session"),
    Variable(
        "OTEL_PYTHON_EXPORTER_OTLP_HTTP_METRICS_CREDENTIAL_PROVIDER", "", None, "the user's metric session"
    ),
    # Seconds per export attempt including retries. The SDK's 10 s means an app
    # whose collector is blackholed takes tens of seconds to exit; 5 s bounds the
    # final flush (all signals are flushed in parallel at exit).
    Variable("OTEL_EXPORTER_OTLP_TIMEOUT", "10", "5", "bounds the final flush"),
    # Resource: process, OS, host and container id; OTEL_RESOURCE_ATTRIBUTES
    # ("otel") is always applied last by the SDK, so the user's values win.
    Variable("OTEL_EXPERIMENTAL_RESOURCE_DETECTORS", "", "process,os,host,containerid", "who and where"),
    # The contrib logging instrumentor exports `logging` records as OTLP logs.
    Variable("OTEL_PYTHON_LOG_AUTO_INSTRUMENTATION", "false", "true", "`logging` records become OTLP logs"),
    Variable(
        "OTEL_PYTHON_SYSTEM_METRICS_EXCLUDED_METRICS",
        "",
        SYSTEM_METRICS_EXCLUDED_BY_DEFAULT,
        "only actionable, cheap process and system metrics",
    ),
    # The stable HTTP semantic conventions (http.request.method, http.response.status_code,
    # url.path, http.server.request.duration): the names alert rules, the docs and the
    # collector's span_metrics dimensions use. And the old conventions put the request's
    # Host header in every HTTP metric data point (http.host, net.host.name): a client
    # sending new Host values made new series without bound (the Python SDK has no
    # cardinality limit); the stable metrics carry method, route, status and scheme only.
    Variable(
        "OTEL_SEMCONV_STABILITY_OPT_IN",
        "",
        "http",
        "stable HTTP attribute names; no client-chosen values in metric labels",
    ),
    # Pick our configurator even when another distro's is installed too.
    Variable("OTEL_PYTHON_CONFIGURATOR", "", DISTRO_NAME, "our configurator, even beside another distro"),
    Variable(
        "OTEL_SERVICE_NAME", "", None, "unset (and not in OTEL_RESOURCE_ATTRIBUTES): the program's name"
    ),
    Variable("OTEL_RESOURCE_ATTRIBUTES", "", None, "the user's resource attributes; they win"),
    Variable(
        "OTEL_BSP_MAX_QUEUE_SIZE", "2048", None, "the span queue; our bounded processor admits this many"
    ),
    # Spans per export request. Encoding a span holds the GIL ~30 us (the Python
    # encoder, either protocol), so a batch of 512 holds it ~15 ms, and a request
    # that meets it waits; 128 bounds that to ~4 ms. bench_distro, 80 000 requests
    # per mode: p99 / upstream distro 1.03 at 512, 0.95 at 128, p50 0.97 / 0.98;
    # the price is 4x the export requests, ~2 us more export CPU per span over HTTP.
    Variable(
        "OTEL_BSP_MAX_EXPORT_BATCH_SIZE", "512", "128", "bounds the export thread's GIL hold (request tails)"
    ),
    Variable(
        "OTEL_BLRP_MAX_QUEUE_SIZE",
        "2048",
        None,
        "the log queues (capture, export); each admits this many, then refuses and counts",
    ),
    Variable("OTEL_BLRP_MAX_EXPORT_BATCH_SIZE", "512", None, "log records per export request"),
    Variable("OTEL_BLRP_SCHEDULE_DELAY", "1000", None, "milliseconds between log exports"),
    Variable("OTEL_BLRP_EXPORT_TIMEOUT", "30000", None, "milliseconds a shutdown waits for the last export"),
    Variable("OTEL_TRACES_SAMPLER", "parentbased_always_on", None, "rebuilt to record everything for rules"),
    Variable("OTEL_TRACES_SAMPLER_ARG", "", None, "the sampler's argument"),
    Variable("OTEL_PYTHON_LOG_CORRELATION", "false", None, "the contrib's switch for ids on stdout lines"),
    Variable("OTEL_PYTHON_LOG_FORMAT", "", None, "the contrib's stdout format; unset: ours, with the ids"),
    Variable(
        "OTEL_PYTHON_LOG_CODE_ATTRIBUTES", "false", None, "the contrib's switch for code.* on log records"
    ),
    Variable("OTEL_PYTHON_DISABLED_INSTRUMENTATIONS", "", None, "instrumentations configure() does not load"),
    Variable("OTELBUNDLE_CONFIG", "", None, "the config file; unset: ./otelbundle.yaml when it exists"),
    Variable("OTELBUNDLE_SCRUB", "true", None, "false turns secret scrubbing off"),
    Variable("OTELBUNDLE_LOG_CORRELATION", "false", None, "true, false or fields"),
    Variable("OTELBUNDLE_SHUTDOWN_TIMEOUT", "5", None, "seconds the exit-time flush may take in total"),
    Variable("OTELBUNDLE_FLUSH_ON_SIGTERM", "true", None, "flush before dying of SIGTERM"),
    # Tooling only (the otelbundle command), never read by an application.
    Variable(
        "OTELBUNDLE_STACK_DIR", "~/.local/share/otelbundle/stack", None, "where `stack` keeps its state"
    ),
    Variable("OTELBUNDLE_LOKI_URL", "http://127.0.0.1:3100", None, "the log store `otelbundle logs` reads"),
)
TABLE: dict[str, Variable] = {variable.name: variable for variable in VARIABLES}

# The defaults the distro sets when the user has not (the ``distro_sets`` column).
OTEL_DEFAULTS: dict[str, str] = {v.name: v.distro_sets for v in VARIABLES if v.distro_sets is not None}


def get(env: Mapping[str, str], name: str) -> str:
    """The variable's value, stripped, or what unset means (:data:`VARIABLES`); empty counts as unset."""
    return (env.get(name) or "").strip() or TABLE[name].unset


def otlp_protocol(env: Mapping[str, str], signal: str | None = None) -> str:
    """The OTLP protocol in use for ``signal`` ("traces", "metrics", "logs"), as the SDK resolves it."""
    if signal is not None:
        specific = get(env, f"OTEL_EXPORTER_OTLP_{signal.upper()}_PROTOCOL")
        if specific:
            return specific
    return get(env, "OTEL_EXPORTER_OTLP_PROTOCOL")


def otlp_endpoint(env: Mapping[str, str], signal: str | None = None) -> str:
    """Where OTLP goes: for ``signal`` ("traces", "metrics", "logs") its own variable first, then
    OTEL_EXPORTER_OTLP_ENDPOINT, else the SDK's default for the protocol (as the exporters resolve it)."""
    if signal is not None:
        specific = get(env, f"OTEL_EXPORTER_OTLP_{signal.upper()}_ENDPOINT")
        if specific:
            return specific
    explicit = get(env, "OTEL_EXPORTER_OTLP_ENDPOINT")
    if explicit:
        return explicit
    return "http://localhost:4317" if otlp_protocol(env, signal) == "grpc" else "http://localhost:4318"


def queue_size(env: Mapping[str, str], variable: str) -> int:
    """A batch processor's queue size as the SDK reads it (the distro has replaced bad values)."""
    return positive_int(env, variable)


def positive_int(env: Mapping[str, str], variable: str) -> int:
    """An integer variable of the table, at least 1; what unset means when it is not a number."""
    try:
        return max(1, int(get(env, variable)))
    except ValueError:
        return max(1, int(TABLE[variable].unset))


OTLP_PROTOCOLS = ("grpc", "http/protobuf")

# Samplers whose argument is a probability. The SDK raises for one outside [0, 1]
# (TraceIdRatioBased(1.5)) and, where it catches that, uses 1.0.
RATIO_SAMPLERS = ("traceidratio", "parentbased_traceidratio")

# The words a true/false variable may be; anything else is reported (env_checks.py).
TRUE_WORDS = ("true", "1", "yes", "on")
FALSE_WORDS = ("false", "0", "no", "off", "")


def sdk_disabled(env: Mapping[str, str]) -> bool:
    """OTEL_SDK_DISABLED as the SDK reads it: only ``true`` (any case) turns everything off."""
    return env.get("OTEL_SDK_DISABLED", "").strip().lower() == "true"


def flag(env: Mapping[str, str], name: str, default: bool | None = None) -> bool:
    """A true/false variable; unset means ``default``, else what the table says."""
    value = env.get(name)
    if value is None:
        return TABLE[name].unset == "true" if default is None else default
    return value.strip().lower() in TRUE_WORDS


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
    elif not args or not args[0] or args[0] in ("-c", "-m", "-"):  # `python -` reads stdin
        return "python"
    else:
        program = os.path.basename(args[0])
        if program == "__main__.py" and len(args) > 1:
            program = args[1]
    if program.startswith(("gunicorn", "uvicorn", "celery", "hypercorn")):
        # The app is `module.path:attr` (or `:factory()`); `-b 127.0.0.1:8000` also has a colon.
        target = next((a for a in args[1:] if _APP_TARGET.fullmatch(a)), "")
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


# What a WSGI/ASGI server is told to serve: a module path, a colon, an attribute or a factory call.
_APP_TARGET = re.compile(r"[A-Za-z_]\w*(?:\.[A-Za-z_]\w*)*:[A-Za-z_]\w*(?:\(.*\))?")

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
    explicit = get(env, "OTELBUNDLE_CONFIG")
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
    if value in TRUE_WORDS:
        return "true"
    return "false" if value in FALSE_WORDS else None


def log_correlation(env: Mapping[str, str]) -> bool:
    """stdout lines carry trace_id/span_id: our variable, or the contrib's."""
    return log_correlation_mode(env) == "true" or flag(env, "OTEL_PYTHON_LOG_CORRELATION")


def shutdown_timeout(env: Mapping[str, str]) -> float:
    """Seconds the exit-time flush may take in total (all signals in parallel).

    The distro has already unset a value that is not a number, infinite or beyond
    what a wait accepts (env_checks.py); this guards the configurator without it.
    """
    try:
        seconds = float(get(env, "OTELBUNDLE_SHUTDOWN_TIMEOUT"))
    except ValueError:
        seconds = math.nan
    if math.isnan(seconds) or seconds > threading.TIMEOUT_MAX:  # inf: OverflowError at exit
        return float(TABLE["OTELBUNDLE_SHUTDOWN_TIMEOUT"].unset)
    return max(0.0, seconds)
