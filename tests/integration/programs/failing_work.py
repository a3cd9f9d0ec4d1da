"""Work that fails: server spans with ERROR status, for alerting tests."""

import sys
import time

from opentelemetry import trace
from opentelemetry.trace import SpanKind, StatusCode

tracer = trace.get_tracer("failing")
for _ in range(int(sys.argv[1]) if len(sys.argv) > 1 else 5):
    with tracer.start_as_current_span("POST /checkout", kind=SpanKind.SERVER) as span:
        span.set_status(StatusCode.ERROR)
time.sleep(float(sys.argv[2]) if len(sys.argv) > 2 else 2.5)  # let the engine tick and export
print("FAILING DONE", flush=True)
