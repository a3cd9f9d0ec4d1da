"""Registers a recording span processor as the alert engine would, makes the app do one
sqlite query of its own, and prints what the processor received as JSON lines."""

import json
import os
import sqlite3
import sys
import threading
import time

from opentelemetry.sdk.trace import ReadableSpan, SpanProcessor

import otelbundle.health

_out = threading.Lock()


class Recorder(SpanProcessor):
    def on_end(self, span: ReadableSpan) -> None:
        line = json.dumps(
            {
                "name": span.name,
                "status": span.status.status_code.name,
                "attributes": dict(span.attributes or {}),
                "service": span.resource.attributes.get("service.name"),
            }
        )
        with _out:  # results arrive on several health threads at once
            sys.stdout.write(line + "\n")
            sys.stdout.flush()


otelbundle.health.register_span_processor(Recorder())
with sqlite3.connect(os.environ["APP_DB"]) as db:
    db.cursor().execute("SELECT 1").fetchall()  # the app's own query: exported as a span
time.sleep(float(os.environ.get("RUN_FOR", "3")))
