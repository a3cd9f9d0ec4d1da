"""The clean-output check catches what our telemetry prints and nothing the apps print.

The positive lines are real ones, from the Django app before objects in `extra`
were converted and from a gunicorn master whose exit flush ran out of time.
"""

from __future__ import annotations

from tests.integration.frameworks.conftest import complaints

OURS = [
    "2026-11-28 02:01:43,330 WARNING [opentelemetry.attributes] Invalid type `<class 'django.core.handlers"
    ".wsgi.WSGIRequest'>` for attribute value. Expected one of bool, str, None, bytes, int, float or a "
    "Mapping or Sequence of those types.",
    "LoggingHandler.emit detected recursive logging, skipping to prevent deadlock.",
    "WARNING otelbundle: telemetry flush did not finish within 5.0s; exiting anyway.",
    "2026-11-28 02:13:46,877 WARNING [opentelemetry.sdk.metrics._internal] shutdown can only be called once",
    "WARNING:opentelemetry.exporter.otlp.proto.http._log_exporter:Failed to export logs batch",
]
THEIRS = [
    "2026-11-28 02:01:43,353 ERROR [django.request] Internal Server Error: /boom/",
    '  File "/work/main/.venv/lib/python3.11/site-packages/opentelemetry/instrumentation/asgi/__init__.py",'
    " line 779, in __call__",
    '[28/Nov/2026 02:01:43] "GET /boom/ HTTP/1.1" 500 145',
    "ERROR:    Exception in ASGI application",
    "[2026-11-28 08:11:00,835: ERROR/ForkPoolWorker-2] Task fail[b847] raised unexpected: RuntimeError('task failed')",
]


def test_our_lines_are_caught_and_the_apps_lines_are_not() -> None:
    assert complaints("\n".join(OURS + THEIRS)) == OURS
