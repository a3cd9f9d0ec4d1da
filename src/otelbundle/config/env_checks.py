"""Values of OTEL_*/OTELBUNDLE_* variables the SDK or we cannot use: :func:`invalid_values`.

The SDK raises deep inside start-up for ``OTEL_EXPORTER_OTLP_PROTOCOL=foo``,
``OTEL_BSP_SCHEDULE_DELAY=0`` or ``OTEL_TRACES_EXPORTER=bogus``, and all of
otelbundle's setup falls back with a traceback; it takes
``OTEL_EXPORTER_OTLP_TIMEOUT=inf`` and then fails every export; and a flag of
ours reads ``maybe`` as false. The distro (defaults.py) asks this module before
the SDK starts, says once, by name, what is wrong and what it uses instead
(:meth:`InvalidValue.message`), and the app keeps running with telemetry on.
"""

from __future__ import annotations

import math
import sys
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from importlib.metadata import entry_points

from otelbundle.config.environment import (
    FALSE_WORDS,
    OTEL_DEFAULTS,
    OTLP_PROTOCOLS,
    RATIO_SAMPLERS,
    TRUE_WORDS,
    get,
    log_correlation_mode,
)


@dataclass(frozen=True)
class InvalidValue:
    """A variable whose value cannot be used; ``replacement`` None means unset it."""

    name: str
    value: str
    reason: str
    replacement: str | None
    # What unsetting means, when the name alone does not say (a sampler's ratio).
    then: str = ""
    # A URL's user-info is masked in the message (an endpoint may carry a token).
    url: bool = False

    def message(self) -> str:
        replacement = (
            self.replacement if not self.url or self.replacement is None else masked(self.replacement)
        )
        fix = f"using {replacement!r} instead" if replacement is not None else "ignoring it"
        if self.then:
            fix = f"{fix} ({self.then})"
        value = masked(self.value) if self.url else self.value
        return f"otelbundle: {self.name}={value!r} {self.reason}; {fix}."


def masked(endpoint: str) -> str:
    """``endpoint`` with what stands before an ``@`` (a user and password) and its query
    (``?token=``) masked, its fragment dropped: as the export failures show an endpoint."""
    endpoint = endpoint.split("#", 1)[0]
    if "?" in endpoint:
        endpoint = endpoint.split("?", 1)[0] + "?***"
    scheme, sep, rest = endpoint.rpartition("://")
    if "@" not in rest.split("/", 1)[0]:
        return endpoint
    return f"{scheme}{sep}***@{rest.split('@', 1)[1]}"


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
    problems.extend(_exporter_problems(env))
    problems.extend(_endpoint_problems(env))
    for rule in NUMBERS:
        problem = _number_problem(env, rule)
        if problem is not None:
            problems.append(problem)
    sampler_arg = _sampler_arg_problem(env)
    if sampler_arg is not None:
        problems.append(sampler_arg)
    # flag() reads anything but true/1/yes/on as false: "maybe" would turn the feature off unsaid.
    for name in ("OTEL_PYTHON_LOG_CORRELATION", "OTELBUNDLE_SCRUB", "OTELBUNDLE_FLUSH_ON_SIGTERM"):
        value = env.get(name)
        if value is not None and value.strip().lower() not in TRUE_WORDS + FALSE_WORDS:
            problems.append(InvalidValue(name, value, "is not true or false", None))
    value = env.get("OTELBUNDLE_LOG_CORRELATION")
    if value is not None and log_correlation_mode(env) is None:
        problems.append(
            InvalidValue("OTELBUNDLE_LOG_CORRELATION", value, "is not true, false or fields", None)
        )
    return problems


def _sampler_arg_problem(env: Mapping[str, str]) -> InvalidValue | None:
    """OTEL_TRACES_SAMPLER_ARG when it cannot be used: a ratio outside [0, 1] or not a number.

    A ratio sampler's argument out of range makes the SDK raise while the tracer
    provider is built. It is replaced by 1.0, what the SDK falls back to, rather
    than unset: unset, the SDK would add a line of its own ("Could not convert
    TRACES_SAMPLER_ARG to float") after ours. Any other
    sampler's argument is left alone: the SDK's others ignore it, and a sampler
    of an entry point may read any text from it ("rate=10,endpoint=…").
    """
    name = "OTEL_TRACES_SAMPLER_ARG"
    value = env.get(name)
    sampler = get(env, "OTEL_TRACES_SAMPLER").lower()
    if value is None or value.strip() == "" or sampler not in RATIO_SAMPLERS:
        return None
    then = "the SDK's default ratio"
    try:
        number = float(value.strip())
    except ValueError:
        return InvalidValue(name, value, "is not a number", "1.0", then)
    if not 0.0 <= number <= 1.0:  # also NaN, which the SDK's sampler cannot use either
        return InvalidValue(name, value, "is not a ratio between 0 and 1", "1.0", then)
    return None


# The variable naming each signal's exporters, and the entry point group the SDK's
# configurator loads them from (opentelemetry/sdk/_configuration: _import_exporters).
EXPORTER_GROUPS: dict[str, tuple[str, str]] = {
    "OTEL_TRACES_EXPORTER": ("traces", "opentelemetry_traces_exporter"),
    "OTEL_METRICS_EXPORTER": ("metrics", "opentelemetry_metrics_exporter"),
    "OTEL_LOGS_EXPORTER": ("logs", "opentelemetry_logs_exporter"),
}
# The SDK looks ``otlp`` up as the exporter of the signal's protocol.
_OTLP_BY_PROTOCOL = {"grpc": "otlp_proto_grpc", "http/protobuf": "otlp_proto_http"}


def _exporter_problems(env: Mapping[str, str]) -> list[InvalidValue]:
    """Exporter names no installed entry point has, dropped from their variable.

    The SDK raises "Requested component 'bogus' not found" for one, and the
    whole of otelbundle's setup falls back to the SDK's. It splits the value at
    commas and strips each name (case matters); the whole value ``none``, any
    case, means no exporter. When no name is left, the distro's default is used.
    Entry points are read (one scan of the installed distributions) only when a
    variable names exporters.
    """
    problems: list[InvalidValue] = []
    installed = None
    for variable, (signal, group) in EXPORTER_GROUPS.items():
        value = env.get(variable)
        if value is None or value.strip() == "" or value.strip().lower() == "none":
            continue
        if installed is None:
            installed = entry_points()
        known = {point.name for point in installed.select(group=group)}
        protocol = _otlp_protocol_after_checks(env, signal)
        names = [name.strip() for name in value.split(",")]
        unknown = [name for name in names if _sdk_name(name, protocol) not in known]
        if not unknown:
            continue
        kept = [name for name in names if name not in unknown]
        shown = ", ".join(_shown(name, protocol) for name in unknown)
        # Our fork-safe metric readers (metric_reader_entry_points.py) are valid, not advertised.
        listed = ", ".join(sorted(name for name in known if not name.startswith("otelbundle_")))
        reason = (
            f"names {'an unknown exporter' if len(unknown) == 1 else 'unknown exporters'} {shown} "
            f"(known: {listed}; or none on its own)"
        )
        if kept:
            problems.append(InvalidValue(variable, value, reason, ",".join(kept)))
        else:
            problems.append(InvalidValue(variable, value, reason, OTEL_DEFAULTS[variable], "the default"))
    return problems


# Each endpoint variable and the signals whose exporter reads it.
ENDPOINTS: dict[str, tuple[str, ...]] = {
    "OTEL_EXPORTER_OTLP_ENDPOINT": ("traces", "metrics", "logs"),
    "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": ("traces",),
    "OTEL_EXPORTER_OTLP_METRICS_ENDPOINT": ("metrics",),
    "OTEL_EXPORTER_OTLP_LOGS_ENDPOINT": ("logs",),
}


def _endpoint_problems(env: Mapping[str, str]) -> list[InvalidValue]:
    """An endpoint without ``http://`` or ``https://`` where a signal goes over OTLP/HTTP.

    ``OTEL_EXPORTER_OTLP_ENDPOINT=localhost:4318`` is the usual slip (the gRPC
    exporter takes a bare host and port). The HTTP exporter starts without a word and
    every export then fails with "No connection adapters were found for
    'localhost:4318/v1/traces'". ``http://`` is what was meant; the gRPC exporter
    reads it too (an insecure connection, as without a scheme).
    """
    problems: list[InvalidValue] = []
    for name, signals in ENDPOINTS.items():
        value = (env.get(name) or "").strip()
        if not value or value.lower().startswith(("http://", "https://")):
            continue
        if not any(_otlp_protocol_after_checks(env, signal) == "http/protobuf" for signal in signals):
            continue
        if "://" in value:
            reason = "is not an http:// or https:// URL, which OTLP/HTTP needs"
            problems.append(InvalidValue(name, env[name], reason, None, url=True))
        else:
            reason = "has no http:// or https://, which OTLP/HTTP needs"
            problems.append(InvalidValue(name, env[name], reason, f"http://{value}", url=True))
    return problems


def _sdk_name(name: str, protocol: str) -> str:
    """The entry point the SDK loads for ``name``: ``otlp`` is the exporter of the protocol."""
    return _OTLP_BY_PROTOCOL[protocol] if name == "otlp" else name


def _shown(name: str, protocol: str) -> str:
    """An unknown name as the message shows it: ``otlp`` with the exporter its protocol needs."""
    return f"{name!r} ({_sdk_name(name, protocol)}, for {protocol})" if name == "otlp" else repr(name)


def _otlp_protocol_after_checks(env: Mapping[str, str], signal: str) -> str:
    """The protocol the SDK will resolve ``otlp`` with, once invalid protocols are replaced.

    As the SDK: the signal's own, else OTEL_EXPORTER_OTLP_PROTOCOL; an invalid
    one of either is unset or replaced above, and unset the distro sets its default.
    """
    for name in (f"OTEL_EXPORTER_OTLP_{signal.upper()}_PROTOCOL", "OTEL_EXPORTER_OTLP_PROTOCOL"):
        value = (env.get(name) or "").strip()
        if value in OTLP_PROTOCOLS:
            return value
    return OTEL_DEFAULTS["OTEL_EXPORTER_OTLP_PROTOCOL"]


@dataclass(frozen=True)
class Number:
    """A numeric variable: how it is parsed, whether 0 is usable, and its unit if it is a time."""

    name: str
    kind: type[int] | type[float]
    # 0 crashes the SDK or is misread (a 1 ms loop, a one-item queue, every export failing).
    above_zero: bool
    # Seconds per unit, for a time that is waited on (None: a count).
    seconds: float | None = None

    @property
    def largest(self) -> float:
        """A longer wait raises OverflowError where it is waited on; a larger queue, in deque()."""
        return threading.TIMEOUT_MAX / self.seconds if self.seconds is not None else sys.maxsize


_MS = 1e-3

# Values the SDK or our processors parse and crash on, or misread, when malformed.
NUMBERS: tuple[Number, ...] = (
    # The SDK's BatchSpanProcessor raises for 0; the bounded queue in front of it would hold 1.
    Number("OTEL_BSP_SCHEDULE_DELAY", int, True, _MS),
    Number("OTEL_BSP_MAX_QUEUE_SIZE", int, True),
    Number("OTEL_BSP_MAX_EXPORT_BATCH_SIZE", int, True),
    Number("OTEL_BSP_EXPORT_TIMEOUT", int, False),  # read, but not used by the SDK's processor
    # Our log processor (log_batch.py) would read 0 as 1: a 1 ms loop, a one-record queue.
    Number("OTEL_BLRP_SCHEDULE_DELAY", int, True, _MS),
    Number("OTEL_BLRP_MAX_QUEUE_SIZE", int, True),
    Number("OTEL_BLRP_MAX_EXPORT_BATCH_SIZE", int, True),
    Number("OTEL_BLRP_EXPORT_TIMEOUT", int, False, _MS),  # 0: shutdown does not wait
    # Our metric reader raises for an interval of 0; a timeout of 0 times out every collection.
    # Floats: the SDK's periodic reader (and ours) reads them with float(), so 500.5 is usable.
    Number("OTEL_METRIC_EXPORT_INTERVAL", float, True, _MS),
    Number("OTEL_METRIC_EXPORT_TIMEOUT", float, True, _MS),
    # Seconds. 0 fails every export ("cannot set connect timeout to 0"); so does inf.
    Number("OTEL_EXPORTER_OTLP_TIMEOUT", float, True, 1.0),
    Number("OTEL_EXPORTER_OTLP_TRACES_TIMEOUT", float, True, 1.0),
    Number("OTEL_EXPORTER_OTLP_METRICS_TIMEOUT", float, True, 1.0),
    Number("OTEL_EXPORTER_OTLP_LOGS_TIMEOUT", float, True, 1.0),
    # inf makes the exit-time flush raise OverflowError in an atexit callback; 0: exit without waiting.
    Number("OTELBUNDLE_SHUTDOWN_TIMEOUT", float, False, 1.0),
)


def _number_problem(env: Mapping[str, str], rule: Number) -> InvalidValue | None:
    """Why ``rule``'s variable cannot be used, or None (unset, empty or fine)."""
    value = env.get(rule.name)
    if value is None or value.strip() == "":
        return None
    try:
        number = rule.kind(value.strip())
    except ValueError:
        reason = "is not an integer" if rule.kind is int else "is not a number"
        return InvalidValue(rule.name, value, reason, None)
    if isinstance(number, float) and not math.isfinite(number):  # int() refuses inf and nan
        return InvalidValue(rule.name, value, "is not a finite number", None)
    if number < 0:
        return InvalidValue(rule.name, value, "is negative", None)
    if number == 0 and rule.above_zero:
        return InvalidValue(rule.name, value, "is not above 0", None)
    if number > rule.largest:  # on the export thread, or in an atexit callback
        return InvalidValue(rule.name, value, "is too large", None)
    return None
