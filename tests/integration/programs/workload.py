"""A tiny app for resilience tests: N units of work, each a span with a log line, then an
optional pause (seconds, the second argument) before it exits."""

import logging
import sys
import time

from opentelemetry import trace

count = int(sys.argv[1]) if len(sys.argv) > 1 else 20
logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s %(message)s")
log = logging.getLogger("workload")
tracer = trace.get_tracer("workload")
for i in range(count):
    with tracer.start_as_current_span("unit-of-work"):
        log.info("work %d", i)
time.sleep(float(sys.argv[2]) if len(sys.argv) > 2 else 0)
print("WORKLOAD DONE", flush=True)
