"""Trace-correlated logs.

The contrib ``logging`` instrumentation puts the OTLP handler on the root logger
and re-attaches it after ``basicConfig``/``dictConfig``/``fileConfig`` so the app's
own logging setup neither removes nor duplicates it. Each record becomes an OTLP
log record whose *native* trace_id, span_id and flags come from the active span,
with ``exception.type``, ``exception.message`` and ``exception.stacktrace`` for
``logger.exception``: by the contrib handler's rules, applied on our translator
thread by :mod:`otelbundle.sdk.logs.translation`.

What this module adds:

* :class:`CorrelationFieldStripper` — with correlation on, the contrib injects
  ``otelTraceID``/``otelSpanID``/``otelTraceSampled``/``otelServiceName`` into
  every ``logging.LogRecord`` (so text formats can print them), and its handler
  then copies them into OTLP attributes, duplicating the native fields. This log
  record processor (a supported SDK hook) removes them before export.
* :func:`instrumentor_options` — how ``OTELBUNDLE_LOG_CORRELATION`` maps onto the
  contrib's own options.
* :func:`after_instrumentation` — the ``opentelemetry_post_instrument`` entry point:
  once every instrumentor is loaded, the OTLP handler gets our
  :class:`~otelbundle.sdk.logs.records.ExportableRecordFilter` (records with objects in
  ``extra`` exported without SDK warnings; framework error records logged after the
  request span joined to it), and a Django app gets the middleware that makes the
  latter possible. See docs/frameworks.md. The handler the instrumentor installed
  (:func:`note_installed_handler`) has its records translated on our translator
  thread by :mod:`otelbundle.sdk.logs.translation`.
"""

from __future__ import annotations

import importlib
import logging
import sys
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from typing import Any

from opentelemetry._logs import LoggerProvider, get_logger_provider
from opentelemetry.sdk._logs import LogRecordProcessor, ReadWriteLogRecord

from otelbundle.config import environment
from otelbundle.sdk.attributes import plain_attributes
from otelbundle.sdk.logs import deferred
from otelbundle.sdk.logs import records as log_records
from otelbundle.sdk.logs.translation import RecordTranslator

# Record fields the contrib injects for text formats; the OTLP record has them natively.
INJECTED_FIELDS = ("otelTraceID", "otelSpanID", "otelTraceSampled", "otelServiceName")
_INJECTED = frozenset(INJECTED_FIELDS)

# A stdout format that joins plain log files to traces; used when correlation is on.
CORRELATED_FORMAT = (
    "%(asctime)s %(levelname)s [%(name)s] [trace_id=%(otelTraceID)s span_id=%(otelSpanID)s] %(message)s"
)

_log = logging.getLogger("otelbundle")


class CorrelationFieldStripper(LogRecordProcessor):
    """Drops the text-format correlation fields from exported attributes."""

    def on_emit(self, log_record: ReadWriteLogRecord) -> None:
        try:
            attributes = log_record.log_record.attributes
            # One set operation on a plain copy of the keys (C), not a look-up per field:
            # ``in`` on the SDK's BoundedAttributes raises and catches a KeyError for every
            # field it lacks (about 1 µs a record with `extra` and no injection).
            if attributes and not _INJECTED.isdisjoint(plain_attributes(attributes)):
                for name in INJECTED_FIELDS:
                    if name in attributes:
                        del attributes[name]  # type: ignore[attr-defined]
        except Exception:  # never let log export break the app's logging call
            _log.debug("could not strip correlation fields", exc_info=True)

    def shutdown(self) -> None:
        return None

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        return True


def instrumentor_options(env: Mapping[str, str]) -> dict[str, Any]:
    """Keyword arguments for the contrib LoggingInstrumentor.

    ``OTELBUNDLE_LOG_CORRELATION``:
      * ``true`` — like the contrib's ``OTEL_PYTHON_LOG_CORRELATION=true``: a stdout
        handler whose lines carry ``trace_id=… span_id=…`` is set up with
        ``basicConfig`` (a no-op when the app already configured the root logger);
      * ``fields`` — only inject ``otelTraceID``/``otelSpanID`` into every record, for
        apps with their own handlers to put in their own format;
      * unset/``false`` — no change to stdout.
    """
    if environment.log_correlation_mode(env) == "fields" and not environment.flag(
        env, "OTEL_PYTHON_LOG_CORRELATION"
    ):
        return {"inject_trace_context": True}
    if environment.log_correlation(env):
        return {
            "set_logging_format": True,
            "logging_format": environment.get(env, "OTEL_PYTHON_LOG_FORMAT") or CORRELATED_FORMAT,
        }
    return {}


@dataclass(frozen=True)
class InstalledHandler:
    """The OTLP handler the logging instrumentor added through the distro, and what it was given."""

    handler: logging.Handler
    provider: LoggerProvider
    code_attributes: bool


_installed: InstalledHandler | None = None


def note_installed_handler(
    before: Collection[logging.Handler], options: Mapping[str, Any], env: Mapping[str, str]
) -> InstalledHandler | None:
    """Note the OTLP handler the logging instrumentor just put on the root logger.

    ``before``: the root logger's handlers before ``instrument(**options)`` ran. The
    instrumentor gives its handler the global LoggerProvider and ``log_code_attributes``
    from ``options`` or ``OTEL_PYTHON_LOG_CODE_ATTRIBUTES`` (the contrib's parse); the
    translator is made with the same (:func:`translator_for`).
    """
    global _installed
    added = [h for h in otlp_handlers() if h not in before]
    if not added:
        return None
    if "log_code_attributes" in options:
        code_attributes = bool(options["log_code_attributes"])
    else:  # the contrib's variable, read as the contrib reads it ("true" only, not our flag words)
        code_attributes = env.get("OTEL_PYTHON_LOG_CODE_ATTRIBUTES", "false").strip().lower() == "true"
    _installed = InstalledHandler(added[0], get_logger_provider(), code_attributes)
    return _installed


def translator_for(handler: logging.Handler) -> RecordTranslator | None:
    """Our translator for ``handler`` when it is the one the instrumentor installed, else None
    (a handler of the app's own, whose provider and options we cannot know: replayed through
    its ``emit``)."""
    installed = _installed
    if installed is None or installed.handler is not handler:
        return None
    return RecordTranslator(installed.provider, handler, code_attributes=installed.code_attributes)


def otlp_handlers() -> list[logging.Handler]:
    """The contrib's OTLP handlers on the root logger (where it installs its one)."""
    try:
        from opentelemetry.instrumentation.logging.handler import LoggingHandler
    except ImportError:
        return []
    return [h for h in logging.getLogger().handlers if isinstance(h, LoggingHandler)]


def record_filter(handler: logging.Handler) -> log_records.ExportableRecordFilter:
    """``handler``'s filter of ours, given to it first among its filters if it has none yet.

    First, so that on the application's thread nothing but our capture runs (any
    other filter on this handler runs on the translator thread, once). The contrib
    re-adds this same handler after ``dictConfig``/``basicConfig``, so the filter
    stays with it.
    """
    for existing in handler.filters:
        if isinstance(existing, log_records.ExportableRecordFilter):
            return existing
    created = log_records.ExportableRecordFilter(handler)
    handler.filters.insert(0, created)
    return created


def attach_record_filter(handler: logging.Handler) -> bool:
    """Give ``handler`` our filter once; True when it did not have it yet."""
    had = any(isinstance(f, log_records.ExportableRecordFilter) for f in handler.filters)
    record_filter(handler)
    return not had


def after_instrumentation() -> None:
    """``opentelemetry_post_instrument`` entry point; never raises into the app's start-up."""
    try:
        handlers = otlp_handlers()
        for handler in handlers:
            attach_record_filter(handler)
        capture = deferred.current()
        if handlers and capture is not None:
            # The contrib installs one OTLP handler, on the root logger: its records are
            # translated on the translator thread (otelbundle.sdk.logs.deferred).
            record_filter(handlers[0]).defer_to(capture, translator_for(handlers[0]))
    except Exception:
        _log.warning("otelbundle: log records with objects in extra may log SDK warnings", exc_info=True)
    try:
        log_records.add_django_middleware()
    except Exception:
        _log.debug("otelbundle: Django error records after the request span stay unjoined", exc_info=True)
    try:
        keep_handlers_through_celery_logging()
    except Exception:
        _log.warning("otelbundle: a Celery worker's log records may not be exported", exc_info=True)


def keep_handlers_through_celery_logging() -> bool:
    """Put the OTLP handler back on the root logger after a Celery worker sets up logging.

    The worker empties the root logger's handlers (``worker_hijack_root_logger``, on by
    default) without going through ``dictConfig``, so the contrib cannot keep its handler
    there: without this, no worker record (task logs, task failures) would be exported.
    Celery's public ``after_setup_logger`` signal runs right after, before the pool forks.
    """
    if "celery" not in sys.modules:
        return False
    handlers = otlp_handlers()
    if not handlers:
        return False
    signals = importlib.import_module("celery.signals")

    def reattach(logger: logging.Logger | None = None, **_: Any) -> None:
        target = logger or logging.getLogger()
        for handler in handlers:
            if handler not in target.handlers:
                target.addHandler(handler)

    signals.after_setup_logger.connect(reattach, weak=False)
    return True
