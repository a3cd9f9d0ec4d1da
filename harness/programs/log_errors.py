"""Logs three ERROR records inside a span for each line on stdin; prints the trace id and when."""

import logging
import sys
import time

from opentelemetry import trace

log = logging.getLogger("payments.db")
tracer = trace.get_tracer("log-errors")
print("READY", flush=True)
for line in sys.stdin:
    with tracer.start_as_current_span("charge") as span:
        trace_id = format(span.get_span_context().trace_id, "032x")
        logged_at = time.time()
        for attempt in range(3):
            log.error(
                "deadlock detected while charging %s (attempt %d)",
                line.strip(),
                attempt,
                extra={"order": line.strip()},
            )
    print(f"LOGGED {trace_id} {logged_at}", flush=True)
