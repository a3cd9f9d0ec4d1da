"""Log records the OTLP handler can always export: plain attribute values, the request's trace.

Every ``extra={...}`` field of a ``logging`` record becomes an OTLP attribute. The
SDK accepts only str, bytes, bool, int, float, None and lists/dicts of those; for
anything else (Django puts the ``request`` object in ``extra``, libraries put
scope dicts, apps put their own objects) it logs ``Invalid type … for attribute
value`` from inside the handler, which the handler's recursion guard answers with
``LoggingHandler.emit detected recursive logging`` on stderr — two alarming lines
per record. :class:`ExportableRecordFilter`, a ``logging.Filter`` on the OTLP
handler, hands the handler a copy of such a record whose values follow
:func:`exportable` instead (the rule in docs/frameworks.md). Other handlers
(the console, Django's mail_admins) still get the original record, objects and all.

The same filter joins records that a framework logs *after* its request span
ended to that request's trace, when the record names the request: see
:func:`request_span_context`.
"""

from __future__ import annotations

import copy
import importlib
import logging
import sys
from collections.abc import Mapping, Sequence
from contextvars import ContextVar
from typing import Any

from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.trace import SpanContext

# A converted value is cut to this many characters (the last one then being "…").
MAX_VALUE_CHARS = 256
# Lists/dicts nested deeper than this become one string (this also ends cycles).
MAX_DEPTH = 4
# The attribute a record gets for a request span context we found (see request_span_context).
REQUEST_SPAN_ATTRIBUTE = "otelbundle_request_span_context"

_PRIMITIVES = (str, bytes, bool, int, float, type(None))

# LogRecord fields the OTLP handler never exports as attributes (the contrib's list, plus the
# ones it derives other fields from); skipping them keeps the check to the `extra` fields.
_STANDARD_FIELDS = frozenset(vars(logging.LogRecord("", 0, "", 0, "", (), None))) | {"message", "asctime"}

# The copy being handed to the handler right now, so the filter lets exactly that one through.
_passing: ContextVar[logging.LogRecord | None] = ContextVar("otelbundle_passing_record", default=None)

_log = logging.getLogger("otelbundle")


def bounded_repr(value: object) -> str:
    """``repr(value)`` cut to MAX_VALUE_CHARS; the type's name when repr itself fails."""
    try:
        text = repr(value)
    except Exception:
        kind = type(value)
        text = f"<{kind.__module__}.{kind.__qualname__}>"
    if len(text) > MAX_VALUE_CHARS:
        text = text[: MAX_VALUE_CHARS - 1] + "…"
    return text


def exportable(value: Any, depth: int = 0) -> Any:
    """``value`` as a valid OTLP attribute value, by the documented rule.

    * str, bytes, bool, int, float and None: unchanged;
    * lists, tuples (any sequence) and dicts: kept, each item converted by this rule;
      dict keys that are not strings become their :func:`bounded_repr`, empty keys are
      dropped; containers nested deeper than MAX_DEPTH become one string;
    * anything else (objects, sets, generators…): :func:`bounded_repr`.
    """
    if isinstance(value, _PRIMITIVES):
        return value
    if depth < MAX_DEPTH:
        if isinstance(value, Mapping):
            result: dict[str, Any] = {}
            for key, item in value.items():
                name = key if isinstance(key, str) else bounded_repr(key)
                if name:
                    result[name] = exportable(item, depth + 1)
            return result
        if isinstance(value, Sequence):
            return [exportable(item, depth + 1) for item in value]
    return bounded_repr(value)


def _needs_conversion(value: Any, depth: int = 0) -> bool:
    if isinstance(value, _PRIMITIVES):
        return False
    if depth >= MAX_DEPTH:
        return True
    if isinstance(value, Mapping):
        return any(
            not isinstance(key, str) or not key or _needs_conversion(item, depth + 1)
            for key, item in value.items()
        )
    if isinstance(value, Sequence):
        return any(_needs_conversion(item, depth + 1) for item in value)
    return True


def conversions(record: logging.LogRecord) -> dict[str, Any]:
    """The ``extra`` fields of ``record`` that are not exportable as they are, converted."""
    return {
        name: exportable(value)
        for name, value in vars(record).items()
        if name not in _STANDARD_FIELDS and _needs_conversion(value)
    }


def request_span_context(record: logging.LogRecord) -> SpanContext | None:
    """The span context of the request a record names, when no span is current.

    Django logs ``Internal Server Error: /path`` (``django.request``) for a 5xx the view
    *returned* after the middleware chain, so after the OpenTelemetry middleware ended
    and detached the request span; the record carries ``extra={"request": request}``.
    :class:`RequestSpanMiddleware` leaves the span context on the request as
    ``REQUEST_SPAN_ATTRIBUTE``; this reads it back. Records that name no request
    (uvicorn's ``Exception in ASGI application``, access logs) cannot be joined.
    """
    if trace.get_current_span().get_span_context().is_valid:
        return None
    request = getattr(record, "request", None)
    found = getattr(request, REQUEST_SPAN_ATTRIBUTE, None) if request is not None else None
    return found if isinstance(found, SpanContext) and found.is_valid else None


class RequestSpanMiddleware:
    """Django middleware placed just inside the OpenTelemetry one: notes the request's span.

    Django logs a 4xx/5xx that a view *returned* (``Internal Server Error: /path``) after
    the whole middleware chain, when the request span has ended; the record names the
    request, and through this attribute :func:`request_span_context` finds its trace.
    """

    sync_capable = True
    async_capable = False

    def __init__(self, get_response: Any) -> None:
        self.get_response = get_response

    def __call__(self, request: Any) -> Any:
        span_context = trace.get_current_span().get_span_context()
        if span_context.is_valid:
            try:
                setattr(request, REQUEST_SPAN_ATTRIBUTE, span_context)
            except Exception:  # a request that takes no attributes: nothing to join later
                _log.debug("could not note the request span", exc_info=True)
        return self.get_response(request)


DJANGO_OTEL_MIDDLEWARE = "opentelemetry.instrumentation.django.middleware.otel_middleware._DjangoMiddleware"
DJANGO_MIDDLEWARE = f"{__name__}.RequestSpanMiddleware"


def add_django_middleware() -> bool:
    """Put :class:`RequestSpanMiddleware` right after the OpenTelemetry middleware.

    The Django instrumentation inserts its middleware into ``settings.MIDDLEWARE`` at
    start-up; ours goes next to it the same way, only when it is there.
    """
    if "opentelemetry.instrumentation.django" not in sys.modules:
        return False
    django_settings = importlib.import_module("django.conf").settings
    middleware = list(getattr(django_settings, "MIDDLEWARE", None) or [])
    if DJANGO_OTEL_MIDDLEWARE not in middleware or DJANGO_MIDDLEWARE in middleware:
        return False
    middleware.insert(middleware.index(DJANGO_OTEL_MIDDLEWARE) + 1, DJANGO_MIDDLEWARE)
    django_settings.MIDDLEWARE = middleware
    return True


class ExportableRecordFilter(logging.Filter):
    """On the OTLP handler: exports a converted copy of records it cannot take as they are.

    Records that need nothing pass unchanged (the common case costs one look at each
    ``extra`` field). Otherwise the handler gets a copy with converted values, inside
    the request's span context when the record names a request whose span has ended,
    and the original is not handed to this handler again.
    """

    def __init__(self, handler: logging.Handler) -> None:
        super().__init__("otelbundle.exportable")
        self._handler = handler

    def filter(self, record: logging.LogRecord) -> bool:
        if _passing.get() is record:
            return True
        try:
            changed = conversions(record)
            span_context = request_span_context(record)
        except Exception:  # never let our check cost the app its log record
            _log.debug("could not inspect a log record", exc_info=True)
            return True
        if not changed and span_context is None:
            return True
        clean = copy.copy(record)
        clean.__dict__.update(changed)
        token = (
            otel_context.attach(trace.set_span_in_context(trace.NonRecordingSpan(span_context)))
            if span_context
            else None
        )
        passing = _passing.set(clean)
        try:
            self._handler.handle(clean)
        finally:
            _passing.reset(passing)
            if token is not None:
                otel_context.detach(token)
        return False
