"""Options the distro gives the contrib web-framework instrumentors (``load_instrumentor``).

Flask: a request that matches no route (a 404 from a scanner, a 405) is named
``{method} {raw path}`` by the contrib, so every probed URL becomes a span name of
its own: unbounded names in trace search and in the collector's span metrics,
which are keyed by span name. The HTTP semantic conventions name a server span
without a route ``{method}``, as the Django and ASGI instrumentations already do.

Django: under a WSGI server that sets neither ``RAW_URI`` nor ``REQUEST_URI``
(``manage.py runserver``, any ``wsgiref`` server) the contrib sets no ``url.path``
(nor ``url.query``), a required attribute of the stable HTTP conventions the
distro turns on; gunicorn sets them. The hook adds them from ``PATH_INFO`` and
``QUERY_STRING``, as the contrib does when it has them.

All (WSGI and ASGI alike): the contrib copies the ``Host`` header into the stable
``server.address`` as it is, port included (``127.0.0.1:8000``), while the conventions
want the host alone, the port being ``server.port``. Every hook keeps the host only.

FastAPI: the contrib ASGI middleware makes an internal span for every ``receive``
and ``send`` call: two or more per request, one per chunk of a ``StreamingResponse``
and one per WebSocket message both ways (a span flood on a long-lived socket), and
a second ERROR span beside every 5xx. The server span already holds the status and
the duration; the distro asks for them to be left out (``exclude_spans``).
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlsplit

_log = logging.getLogger("otelbundle")


def flask_request_hook(span: Any, environ: Any) -> None:
    """Name a span whose request matched no route ``{method}`` (never raises: the contrib calls
    this hook unguarded, on the request's thread)."""
    try:
        import flask
        from opentelemetry.util.http import sanitize_method

        if flask.request.url_rule is not None or not span.is_recording():
            return
        method = sanitize_method(str(environ.get("REQUEST_METHOD", "")).strip())
        span.update_name("HTTP" if method == "_OTHER" else method)
    except Exception:
        _log.debug("otelbundle: could not rename a Flask span", exc_info=True)


def flask_response_hook(span: Any, status: Any, response_headers: Any) -> None:
    """Keep the host only in ``server.address`` (the contrib sets the request's attributes again
    after its request hook, so this is the first hook that can)."""
    try:
        if span is not None and span.is_recording():
            host_only_server_address(span)
    except Exception:
        _log.debug("otelbundle: could not complete a Flask span", exc_info=True)


def stable_http(env: Mapping[str, str]) -> bool:
    """Whether OTEL_SEMCONV_STABILITY_OPT_IN asks for the stable HTTP attribute names."""
    tokens = {token.strip() for token in env.get("OTEL_SEMCONV_STABILITY_OPT_IN", "").split(",")}
    return bool(tokens & {"http", "http/dup"})


def django_request_hook(span: Any, request: Any) -> None:
    """Add ``url.path``/``url.query`` when the WSGI server gave the contrib no request URI."""
    try:
        if not span.is_recording():
            return
        host_only_server_address(span)
        if not stable_http(os.environ):
            return
        present = getattr(span, "attributes", None) or {}
        meta = getattr(request, "META", None) or {}
        if "url.path" not in present and meta.get("PATH_INFO"):
            span.set_attribute("url.path", str(meta["PATH_INFO"]))
            if "url.query" not in present and meta.get("QUERY_STRING"):
                span.set_attribute("url.query", str(meta["QUERY_STRING"]))
    except Exception:
        _log.debug("otelbundle: could not complete a Django span", exc_info=True)


def host_only_server_address(span: Any) -> None:
    """Drop the port the ``Host`` header put in ``server.address`` (``[::1]:8000`` -> ``::1``)."""
    address = (getattr(span, "attributes", None) or {}).get("server.address")
    if not isinstance(address, str) or ":" not in address:
        return
    host = urlsplit(f"//{address}").hostname
    if host and host != address:
        span.set_attribute("server.address", host)


def asgi_server_request_hook(span: Any, scope: Any) -> None:
    """The ASGI server span's hook (never raises, though the contrib guards it)."""
    try:
        if span.is_recording():
            host_only_server_address(span)
    except Exception:
        _log.debug("otelbundle: could not complete an ASGI span", exc_info=True)


def instrumentor_options(name: str) -> dict[str, Any]:
    """The keyword arguments the distro adds for instrumentor ``name`` (the caller's win)."""
    if name == "flask":
        return {"request_hook": flask_request_hook, "response_hook": flask_response_hook}
    if name == "django":
        return {"request_hook": django_request_hook}
    if name == "fastapi":
        return {"server_request_hook": asgi_server_request_hook, "exclude_spans": ["receive", "send"]}
    if name == "starlette":
        return {"server_request_hook": asgi_server_request_hook}
    return {}
