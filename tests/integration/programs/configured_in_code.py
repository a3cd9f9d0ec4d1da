"""An app that cannot use the wrapper: it calls otelbundle.configure() itself."""

import logging
import sys

from opentelemetry import trace

import otelbundle

handle = otelbundle.configure(
    service_name="in-code", endpoint=sys.argv[1], resource_attributes={"team": "a b"}
)
again = otelbundle.configure(service_name="ignored")
assert again is handle, "configure() must be idempotent"
log = logging.getLogger("in-code")
with trace.get_tracer("in-code").start_as_current_span("coded-work"):
    log.warning("from code")
    # An object in extra must reach the backend as a string, without an SDK warning.
    log.warning("with an object", extra={"holder": object()})
assert handle.force_flush(5.0)
print("INSTRUMENTED", ",".join(sorted(handle.instrumented)), flush=True)
handle.shutdown()
