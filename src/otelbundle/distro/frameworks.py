"""Options the distro gives the contrib web-framework instrumentors (``load_instrumentor``).

Flask: a request that matches no route (a 404 from a scanner, a 405) is named
``{method} {raw path}`` by the contrib, so every probed URL becomes a span name of
its own: unbounded names in trace search and in the collector's span metrics,
which are keyed by span name. The HTTP semantic conventions name a server span
without a route ``{method}``, as the Django and ASGI instrumentations already do.
"""

from __future__ import annotations

import logging
from typing import Any

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


def instrumentor_options(name: str) -> dict[str, Any]:
    """The keyword arguments the distro adds for instrumentor ``name`` (the caller's win)."""
    if name == "flask":
        return {"request_hook": flask_request_hook}
    return {}
