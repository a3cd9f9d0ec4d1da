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

Under the distro the filter does not let the handler translate the record on the
application's thread: it captures it for the translator thread
(:mod:`otelbundle.sdk.logs.deferred`), converting on the spot only what could
change before the translator gets to it (:meth:`ExportableRecordFilter.capture`).
There the record is translated by :mod:`otelbundle.sdk.logs.translation` (the
instrumentor's handler) or replayed through the handler's ``emit`` (any other).
"""

from __future__ import annotations

import copy
import importlib
import logging
import sys
from collections.abc import Mapping, Sequence, Sized
from contextvars import ContextVar
from typing import Any

from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.trace import SpanContext

from otelbundle.sdk.logs.deferred import DeferredLogs
from otelbundle.sdk.logs.translation import RecordTranslator

# A converted value is cut to this many characters (the last one then being "…").
MAX_VALUE_CHARS = 256
# Lists/dicts nested deeper than this become one string (this also ends cycles).
MAX_DEPTH = 4
# Items (list items and dict entries, however nested) one value keeps; the rest is left out and
# said in a last item. The conversion runs on the thread that logs, and a value of 100 000 ids
# would cost it milliseconds, then make the export request too big for the collector to take.
MAX_ITEMS = 1000
# The attribute a record gets for a request span context we found (see request_span_context).
REQUEST_SPAN_ATTRIBUTE = "otelbundle_request_span_context"

_PRIMITIVES = (str, bytes, bool, int, float, type(None))
# Values a record can carry to another thread as they are: nothing can change them meanwhile.
_IMMUTABLE = frozenset(_PRIMITIVES)

# LogRecord fields the OTLP handler never exports as attributes (the contrib's list, plus the
# ones it derives other fields from); skipping them keeps the check to the `extra` fields.
_STANDARD_FIELDS = frozenset(vars(logging.LogRecord("", 0, "", 0, "", (), None))) | {"message", "asctime"}
# A record with no more fields than a plain one has no `extra` (the common case: one len()).
_PLAIN_RECORD_FIELDS = len(vars(logging.LogRecord("", 0, "", 0, "", (), None)))

# The copy being handed to the handler right now, so the filter lets exactly that one through.
_passing: ContextVar[logging.LogRecord | None] = ContextVar("otelbundle_passing_record", default=None)

_log = logging.getLogger("otelbundle")


def _snapshot(record: logging.LogRecord) -> logging.LogRecord:
    """A shallow copy of ``record`` (its fields as they are now): for a plain record a dict copy,
    a tenth of what ``copy.copy`` costs; a record class of the app's own is copied as it copies."""
    if type(record) is not logging.LogRecord:
        return copy.copy(record)
    clean: logging.LogRecord = object.__new__(logging.LogRecord)
    clean.__dict__ = record.__dict__.copy()  # 0.17 µs; update() into the new dict takes 0.4
    return clean


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
    * anything else (objects, sets, generators…): :func:`bounded_repr`;
    * a mapping or sequence that raises while it is read (an app's own container class):
      :func:`bounded_repr` too. Nothing here raises into the application's logging call;
    * past MAX_ITEMS items in all (however nested), the rest of a list is replaced by one
      string item ``"… N more items not exported"``, of a map by the key ``"…"`` saying so.
    """
    return _exportable(value, depth, [MAX_ITEMS])


def _exportable(value: Any, depth: int, budget: list[int]) -> Any:
    """:func:`exportable`, with ``budget[0]`` the items still to keep, shared by the whole value."""
    if isinstance(value, _PRIMITIVES):
        return value
    if depth < MAX_DEPTH:
        try:
            if isinstance(value, Mapping):
                result: dict[str, Any] = {}
                for taken, (key, item) in enumerate(value.items()):
                    if budget[0] <= 0:
                        result["…"] = f"{_left(value, taken)} more entries not exported"
                        break
                    budget[0] -= 1
                    name = key if isinstance(key, str) else bounded_repr(key)
                    if name:
                        result[name] = _exportable(item, depth + 1, budget)
                return result
            if isinstance(value, Sequence):
                items: list[Any] = []
                for item in value:
                    if budget[0] <= 0:
                        items.append(f"… {_left(value, len(items))} more items not exported")
                        break
                    budget[0] -= 1
                    items.append(_exportable(item, depth + 1, budget))
                return items
        except Exception:
            return bounded_repr(value)
    return bounded_repr(value)


def _left(container: Sized, taken: int) -> str:
    """How many items of ``container`` were not taken, as text ("some" when it cannot say)."""
    try:
        return str(len(container) - taken)
    except Exception:
        return "some"


def _needs_conversion(value: Any, depth: int = 0, budget: list[int] | None = None) -> bool:
    if isinstance(value, _PRIMITIVES):
        return False
    if depth >= MAX_DEPTH:
        return True
    if budget is None:
        budget = [MAX_ITEMS]
    try:
        if isinstance(value, (Mapping, Sequence)):
            budget[0] -= len(value)
            if budget[0] < 0:  # more items than a value keeps: exportable() cuts it
                return True
        if isinstance(value, Mapping):
            return any(
                not isinstance(key, str) or not key or _needs_conversion(item, depth + 1, budget)
                for key, item in value.items()
            )
        if isinstance(value, Sequence):
            return any(_needs_conversion(item, depth + 1, budget) for item in value)
    except Exception:  # a container that cannot be read: exportable() makes it a string
        return True
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
    try:
        found = getattr(request, REQUEST_SPAN_ATTRIBUTE, None) if request is not None else None
    except Exception:  # an object whose attribute look-up raises names no request of ours
        return None
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

    Once :meth:`defer_to` gave it a :class:`DeferredLogs`, records are captured for the
    translator thread instead (:meth:`capture`) and :meth:`replay` hands them there to
    our translator, or back to the handler.
    """

    def __init__(self, handler: logging.Handler) -> None:
        super().__init__("otelbundle.exportable")
        self._handler = handler
        self._deferred: DeferredLogs | None = None
        self._translator: RecordTranslator | None = None

    def defer_to(self, deferred: DeferredLogs, translator: RecordTranslator | None = None) -> None:
        """Capture this handler's records for ``deferred``'s translator thread from now on.

        With ``translator`` the records are translated by it (:mod:`.translation`), else
        replayed through the handler's own ``emit``."""
        self._deferred = deferred
        self._translator = translator
        deferred.start(self._handler, self.replay)

    def filter(self, record: logging.LogRecord) -> bool:
        deferred = self._deferred
        if deferred is not None and deferred.serves(self._handler):
            try:
                return self.capture(record, deferred)
            except Exception:  # never let our capture cost the app its log record: emit it here
                _log.debug("could not capture a log record", exc_info=True)
        if _passing.get() is record:
            return True
        return self._emit_here(record)

    def capture(self, record: logging.LogRecord, deferred: DeferredLogs) -> bool:
        """Queue the record for the translator; False, so the handler does not emit it here.

        What could change before the translator runs is taken now, on a copy of the
        record (other handlers keep the original): ``extra`` values that are not
        immutable primitives are converted by :func:`exportable` (the same bounds, and a
        snapshot of lists and dicts); a message whose arguments are not immutable
        primitives (or that is not a string) is formatted. A record naming a request
        whose span has ended gets that span context (:func:`request_span_context`).
        """
        fields = record.__dict__
        # Always a copy: the application's other handlers and their filters get the original
        # and may change it (a redacting filter rewriting ``msg``, one adding an object field)
        # before the translator runs; the export is the record as it was at the call.
        clean = _snapshot(record)
        span_context = None
        if len(fields) > _PLAIN_RECORD_FIELDS:
            names = fields.keys() - _STANDARD_FIELDS
            if names:
                changed = {n: exportable(fields[n]) for n in names if type(fields[n]) not in _IMMUTABLE}
                if "request" in names:
                    span_context = request_span_context(record)
                if changed:
                    clean.__dict__.update(changed)
        args = record.args
        if type(record.msg) is not str or (
            args and (type(args) is not tuple or not _IMMUTABLE.issuperset(map(type, args)))
        ):
            try:
                message = record.getMessage()  # the arguments as they are now
            except Exception:  # a bad format: the translator meets it too and reports it (handleError)
                message = None
            if message is not None:
                clean.msg, clean.args = message, None
        deferred.capture(clean, span_context)
        return False

    def replay(self, record: logging.LogRecord, span_context: SpanContext | None) -> None:
        """Translate a captured record (on the translator thread, in the caller's context).

        With no filter on the handler but this one, straight to the translator (or the
        handler's ``emit``): ``handle`` would only run this filter again and take the
        handler's lock, which the one translator thread does not need. Other filters run
        here, once.
        """
        handler = self._handler
        translator = self._translator
        if translator is None:
            if span_context is None and len(handler.filters) == 1:
                handler.emit(record)
            else:
                self._hand_over(record, span_context)
        elif span_context is None and len(handler.filters) == 1:
            translator.emit(record)
        else:
            self._translate_filtered(translator, record, span_context)

    def _translate_filtered(
        self, translator: RecordTranslator, record: logging.LogRecord, span_context: SpanContext | None
    ) -> None:
        """The handler's other filters (this one lets the record through), then ``translator``,
        joined to ``span_context`` when given. A filter may hand back a replacement record."""
        passing = _passing.set(record)
        try:
            passed = self._handler.filter(record)
        finally:
            _passing.reset(passing)
        if not passed:
            return
        if isinstance(passed, logging.LogRecord):
            record = passed
        context = trace.set_span_in_context(trace.NonRecordingSpan(span_context)) if span_context else None
        translator.emit(record, context)

    def _emit_here(self, record: logging.LogRecord) -> bool:
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
        self._hand_over(clean, span_context)
        return False

    def _hand_over(self, record: logging.LogRecord, span_context: SpanContext | None) -> None:
        """``handler.handle(record)``, this filter letting exactly that record through."""
        token = (
            otel_context.attach(trace.set_span_in_context(trace.NonRecordingSpan(span_context)))
            if span_context
            else None
        )
        passing = _passing.set(record)
        try:
            self._handler.handle(record)
        finally:
            _passing.reset(passing)
            if token is not None:
                otel_context.detach(token)
