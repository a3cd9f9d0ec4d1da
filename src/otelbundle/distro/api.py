"""``otelbundle.configure()``: the same setup as ``opentelemetry-instrument``, from code.

For apps the wrapper cannot reach: a gunicorn ``post_fork`` hook, a notebook,
an embedded interpreter, a test. Keyword-only and typed so mistakes fail at the
call site. Explicit arguments win over the environment; what is not given is
read from the environment exactly as under the wrapper. Calling it again (or
under the wrapper) returns the existing handle instead of configuring twice.
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from importlib.metadata import entry_points
from typing import Any, Literal

from opentelemetry.instrumentation.dependencies import get_dist_dependency_conflicts

from otelbundle import scrub
from otelbundle.config import environment
from otelbundle.config.report import diagnostics_logger
from otelbundle.distro import runtime
from otelbundle.distro.configurator import OtelBundleConfigurator
from otelbundle.distro.defaults import OtelBundleDistro, apply_defaults
from otelbundle.health import instrumentor as health_instrumentor
from otelbundle.sdk import celery_exit
from otelbundle.sdk.logs import correlation

_log = logging.getLogger("otelbundle")
_lock = threading.Lock()
_handle: Handle | None = None


@dataclass(frozen=True)
class Handle:
    """What :func:`configure` returns: flush or stop telemetry explicitly."""

    runtime: runtime.Runtime
    instrumented: tuple[str, ...]

    def force_flush(self, timeout: float = 5.0) -> bool:
        """Export everything buffered now; True when all signals finished within ``timeout`` seconds."""
        return self.runtime.force_flush(timeout)

    def shutdown(self, timeout: float = 5.0) -> bool:
        """Flush and stop exporting; later telemetry is dropped. Also runs at exit."""
        return self.runtime.shutdown(timeout)


def configure(
    *,
    service_name: str | None = None,
    endpoint: str | None = None,
    protocol: Literal["grpc", "http/protobuf"] | None = None,
    resource_attributes: Mapping[str, str] | None = None,
    config_file: str | None = None,
    log_correlation: bool | None = None,
    instrument: bool | Sequence[str] = True,
    shutdown_timeout: float | None = None,
    scrub: bool | scrub.Hook | None = None,
) -> Handle:
    """Configure traces, metrics and logs over OTLP, alert rules and instrumentations.

    ``instrument``: True loads every installed instrumentation (minus
    OTEL_PYTHON_DISABLED_INSTRUMENTATIONS), a list loads only those names, False none.
    ``scrub``: False turns the in-process secret scrubbing off (OTELBUNDLE_SCRUB=false);
    a callable ``hook(where, value) -> value`` runs after the built-in rules on every
    string value (docs/secrets.md).
    """
    global _handle
    with _lock:
        if _handle is not None:
            return _handle
        existing = runtime.current()
        if existing is not None:  # already configured by opentelemetry-instrument
            _handle = Handle(existing, ())
            return _handle
        options = _typed_options(
            service_name=service_name,
            endpoint=endpoint,
            protocol=protocol,
            resource_attributes=resource_attributes,
            config_file=config_file,
            log_correlation=log_correlation,
            shutdown_timeout=shutdown_timeout,
            scrub=scrub,
            instrument=instrument,
        )
        instrument = options.pop("instrument")
        instrument = True if instrument is None else instrument
        options["scrub_option"] = options.pop("scrub", None)
        _apply_options(os.environ, **options)
        for message in apply_defaults(os.environ):
            diagnostics_logger().warning("%s", message)
        before = runtime.Runtime.providers()
        OtelBundleConfigurator().configure()  # type: ignore[no-untyped-call]
        state = runtime.current()
        if state is not None:
            _say_providers_kept(before, runtime.Runtime.providers())
        if state is None:  # the SDK configurator failed; it already said why
            from otelbundle.sdk.export.report import DropReport

            state = runtime.Runtime(report=DropReport())
        _handle = Handle(state, tuple(_instrument(instrument)))
        return _handle


_PROVIDER_KINDS = ("TracerProvider", "MeterProvider", "LoggerProvider")
_NOT_EXPORTED = {"TracerProvider": "spans", "MeterProvider": "metrics", "LoggerProvider": "log records"}


def _say_providers_kept(before: Sequence[object], after: Sequence[object]) -> None:
    """The app set a provider before calling configure(): the SDK keeps it (a global provider is
    set once) and says only "Overriding ... is not allowed", while ours, with the exporters and the
    alert rules, is dropped. What the app then records would be lost without a word."""
    kept = [kind for kind, old, new in zip(_PROVIDER_KINDS, before, after, strict=True) if old is new]
    if not kept:
        return
    one = len(kept) == 1
    diagnostics_logger().warning(
        "otelbundle: configure() found the app's own %s already set and kept %s: otelbundle's "
        "exporters%s are not on %s, so %s %s are not exported by otelbundle. Call "
        "otelbundle.configure() before the app sets a provider, or let otelbundle set it.",
        _listed(kept),
        "it" if one else "them",
        " and alert rules" if "TracerProvider" in kept else "",
        "it" if one else "them",
        "its" if one else "their",
        _listed([_NOT_EXPORTED[kind] for kind in kept]),
    )


def _listed(words: Sequence[str]) -> str:
    return words[0] if len(words) == 1 else ", ".join(words[:-1]) + " and " + words[-1]


def _typed_options(**given: Any) -> dict[str, Any]:
    """The arguments of the right type (unset: None); each wrong one is named once and ignored.

    A wrong type must not stop the app (``os.environ`` raised TypeError on an int, a
    list of attributes AttributeError), nor be misread: ``log_correlation="no"`` and
    ``scrub="no"`` were truthy, ``instrument="flask"`` a set of letters. Values are not
    quoted: an endpoint or an attribute may hold a credential.
    """
    checks: dict[str, tuple[Callable[[Any], bool], str]] = {
        "service_name": (_is_str, "a str"),
        "endpoint": (_is_str, "a str"),
        "protocol": (_is_str, "a str"),
        "resource_attributes": (_is_attributes, "a mapping of str to str"),
        "config_file": (lambda v: isinstance(v, (str, os.PathLike)), "a str or a path"),
        "log_correlation": (lambda v: isinstance(v, bool), "True or False"),
        "shutdown_timeout": (lambda v: isinstance(v, (int, float)) and not isinstance(v, bool), "a number"),
        "scrub": (lambda v: isinstance(v, bool) or callable(v), "True, False or a hook"),
        "instrument": (_is_instrument, "True, False or a list of names"),
    }
    options: dict[str, Any] = {}
    for name, value in given.items():
        valid, expected = checks[name]
        options[name] = value if value is None or valid(value) else None
        if options[name] is not None or value is None:
            continue
        diagnostics_logger().error(
            "otelbundle: configure(%s=...) must be %s, not %s; ignoring it.",
            name,
            expected,
            type(value).__name__,
        )
    if options.get("protocol") is not None:
        options["protocol"] = options["protocol"].strip()  # as OTEL_EXPORTER_OTLP_PROTOCOL is read
    if options.get("protocol") is not None and options["protocol"] not in environment.OTLP_PROTOCOLS:
        # Named as the argument it is: passed on, it was refused as OTEL_EXPORTER_OTLP_PROTOCOL,
        # a variable the caller never set. Not a secret, so it is quoted.
        diagnostics_logger().error(
            "otelbundle: configure(protocol=%r) must be one of %s; ignoring it (the environment's or "
            "the default protocol is used).",
            options["protocol"],
            ", ".join(environment.OTLP_PROTOCOLS),
        )
        options["protocol"] = None
    if isinstance(options.get("config_file"), os.PathLike):
        options["config_file"] = os.fspath(options["config_file"])
    if isinstance(options.get("instrument"), str):
        options["instrument"] = [options["instrument"]]  # one name, not its letters
    return options


def _is_str(value: Any) -> bool:
    return isinstance(value, str)


def _is_attributes(value: Any) -> bool:
    return isinstance(value, Mapping) and all(isinstance(k, str) for k in value)


def _is_instrument(value: Any) -> bool:
    if isinstance(value, (bool, str)):
        return True
    return isinstance(value, Sequence) and all(isinstance(name, str) for name in value)


def _apply_options(
    env: dict[str, str] | os._Environ[str],
    *,
    service_name: str | None,
    endpoint: str | None,
    protocol: str | None,
    resource_attributes: Mapping[str, str] | None,
    config_file: str | None,
    log_correlation: bool | None,
    shutdown_timeout: float | None,
    scrub_option: bool | scrub.Hook | None = None,
) -> None:
    """Explicit arguments become the standard variables, so one code path reads them."""
    if service_name is not None:
        env["OTEL_SERVICE_NAME"] = service_name
    if endpoint is not None:
        env["OTEL_EXPORTER_OTLP_ENDPOINT"] = endpoint
    if protocol is not None:
        env["OTEL_EXPORTER_OTLP_PROTOCOL"] = protocol
    if resource_attributes:
        from urllib.parse import quote

        given = ",".join(f"{k}={quote(str(v), safe='')}" for k, v in resource_attributes.items())
        previous = env.get("OTEL_RESOURCE_ATTRIBUTES", "")
        env["OTEL_RESOURCE_ATTRIBUTES"] = f"{previous},{given}" if previous else given
    if config_file is not None:
        env["OTELBUNDLE_CONFIG"] = config_file
    if log_correlation is not None:
        env["OTELBUNDLE_LOG_CORRELATION"] = "true" if log_correlation else "false"
    if shutdown_timeout is not None:
        env["OTELBUNDLE_SHUTDOWN_TIMEOUT"] = str(shutdown_timeout)
    if scrub_option is not None:
        # A hook cannot travel in the environment: it is registered for the configurator.
        env[scrub.ENV_VAR] = "false" if scrub_option is False else "true"
        if callable(scrub_option):
            scrub.set_hook(scrub_option)


def _instrument(which: bool | Sequence[str]) -> list[str]:
    """Load instrumentor entry points the way the wrapper does, through our distro."""
    if which is False:
        return []
    disabled = {
        n.strip() for n in environment.get(os.environ, "OTEL_PYTHON_DISABLED_INSTRUMENTATIONS").split(",")
    }
    wanted = None if which is True else set(which)
    distro = OtelBundleDistro()
    loaded: list[str] = []
    for entry_point in entry_points(group="opentelemetry_instrumentor"):
        if entry_point.name in disabled or (wanted is not None and entry_point.name not in wanted):
            continue
        try:
            # As the wrapper does: an instrumentation whose library is not installed is
            # skipped quietly; only a version outside its range is worth a warning.
            conflict = get_dist_dependency_conflicts(entry_point.dist) if entry_point.dist else None
            if conflict is not None:
                say = _log.warning if conflict.found or conflict.found_any else _log.debug
                say("otelbundle: instrumentation %r not loaded: %s", entry_point.name, conflict)
                continue
            distro.load_instrumentor(entry_point, **({"skip_dep_check": True} if entry_point.dist else {}))
            loaded.append(entry_point.name)
        except ModuleNotFoundError as exc:  # the library it instruments is not installed
            _log.debug("otelbundle: instrumentation %r skipped: %s", entry_point.name, exc)
        except Exception as exc:
            _log.warning("otelbundle: instrumentation %r not loaded: %s", entry_point.name, exc)
    unknown = sorted((wanted or set()) - {e.name for e in entry_points(group="opentelemetry_instrumentor")})
    if unknown:
        diagnostics_logger().warning(
            "otelbundle: configure(instrument=...) names no installed instrumentation %s; ignoring them.",
            ", ".join(map(repr, unknown)),
        )
    # What otelbundle's opentelemetry_post_instrument entry points do under the wrapper.
    correlation.after_instrumentation()
    health_instrumentor.after_instrumentation()
    celery_exit.after_instrumentation()
    return loaded
