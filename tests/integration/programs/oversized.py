"""Ordinary spans and log records with one of each carrying a value bigger than a collector
accepts in a request (the size in MB is the first argument), all in one export batch."""

import logging
import sys

from opentelemetry import trace

size = int(float(sys.argv[1]) * 1_000_000)
logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s %(message)s")
log = logging.getLogger("oversized")
tracer = trace.get_tracer("oversized")
for i in range(40):
    with tracer.start_as_current_span(f"ordinary-{i}") as span:
        if i == 20:
            span.set_attribute("http.response.body", "x" * size)
        log.info("ordinary %d", i, extra={"payload": "y" * size} if i == 20 else None)
print("OVERSIZED DONE", flush=True)
