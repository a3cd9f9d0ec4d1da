"""Logs three ERROR records inside a span for each line on stdin; prints the trace id and when.

With ``--outside-span`` the records are logged outside any span (the trace id printed is then 0s):
nothing ends to wake the alert engine, so they reach the rules on the log translator's schedule.
"""

import contextlib
import logging
import sys
import time

from opentelemetry import trace

log = logging.getLogger("payments.db")
tracer = trace.get_tracer("log-errors")
outside = "--outside-span" in sys.argv[1:]
print("READY", flush=True)
for line in sys.stdin:
    scope = contextlib.nullcontext(trace.INVALID_SPAN) if outside else tracer.start_as_current_span("charge")
    with scope as span:
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
