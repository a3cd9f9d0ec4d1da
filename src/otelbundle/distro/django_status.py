"""Django: a 4xx the view *raised* (``Http404``, ``PermissionDenied``…) is not a server error.

The contrib Django middleware hands every exception a view raised to its span's
context manager, which records it and sets the span's status to ERROR; so
``get_object_or_404`` made every 404 an error span (red in Jaeger, counted by the
collector's span metrics and by ``error_count`` alert rules), although the HTTP
semantic conventions leave a server span's status unset for 4xx, as the contrib
does for the same 404 *returned*. :class:`ClientErrorMiddleware`, placed just inside the
OpenTelemetry middleware, answers such an exception the way Django itself would
(``response_for_exception``: the same response, the same ``Not Found: /path`` record)
before it reaches the OpenTelemetry middleware's ``process_exception``; only 5xx
exceptions are left to it. A middleware inside ours that handles the exception
itself still does, first.
"""

from __future__ import annotations

import logging
from typing import Any

_log = logging.getLogger("otelbundle")

DJANGO_OTEL_MIDDLEWARE = "opentelemetry.instrumentation.django.middleware.otel_middleware._DjangoMiddleware"
CLIENT_ERROR_MIDDLEWARE = f"{__name__}.ClientErrorMiddleware"


def _client_errors() -> tuple[type[BaseException], ...]:
    """The exceptions Django's ``response_for_exception`` answers with a 4xx."""
    from django.core.exceptions import BadRequest, PermissionDenied, SuspiciousOperation  # type: ignore[import-untyped]
    from django.http import Http404  # type: ignore[import-untyped]
    from django.http.multipartparser import MultiPartParserError  # type: ignore[import-untyped]

    return (Http404, PermissionDenied, BadRequest, SuspiciousOperation, MultiPartParserError)


class ClientErrorMiddleware:
    sync_capable = True
    async_capable = False

    def __init__(self, get_response: Any) -> None:
        self.get_response = get_response
        self._client_errors = _client_errors()

    def __call__(self, request: Any) -> Any:
        return self.get_response(request)

    def process_exception(self, request: Any, exception: BaseException) -> Any:
        if not isinstance(exception, self._client_errors):
            return None
        try:
            from django.core.handlers.exception import response_for_exception  # type: ignore[import-untyped]

            response = response_for_exception(request, exception)
        except Exception:  # Django answers it then, as without us
            _log.debug("otelbundle: could not answer a client error", exc_info=True)
            return None
        return response if 400 <= int(getattr(response, "status_code", 500)) < 500 else None


def add_client_error_middleware() -> bool:
    """Put :class:`ClientErrorMiddleware` just inside the OpenTelemetry middleware, when that is
    in ``settings.MIDDLEWARE`` (the Django instrumentation inserts it at start-up). Never raises."""
    try:
        from django.conf import settings  # type: ignore[import-untyped]

        middleware = list(getattr(settings, "MIDDLEWARE", None) or [])
        if DJANGO_OTEL_MIDDLEWARE not in middleware or CLIENT_ERROR_MIDDLEWARE in middleware:
            return False
        middleware.insert(middleware.index(DJANGO_OTEL_MIDDLEWARE) + 1, CLIENT_ERROR_MIDDLEWARE)
        settings.MIDDLEWARE = middleware
        return True
    except Exception:
        _log.debug("otelbundle: could not add the Django client-error middleware", exc_info=True)
        return False
