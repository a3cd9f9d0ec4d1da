"""A request that raises ValueError, logged with logger.exception inside its span (evidence tests).

argv: the exception's message, then a line the app logs before failing."""

import logging
import sys
import time

from opentelemetry import trace
from opentelemetry.trace import SpanKind

log = logging.getLogger("shop.payments")
log.setLevel(logging.INFO)
tracer = trace.get_tracer("raising")
try:
    with tracer.start_as_current_span(
        "POST /checkout", kind=SpanKind.SERVER, attributes={"http.route": "/checkout"}
    ):
        log.info(sys.argv[2])
        try:
            raise ValueError(sys.argv[1])
        except ValueError:
            log.exception("payment failed")
            raise
except ValueError:
    pass
time.sleep(2.0)  # the engine folds, the notifier posts
print("RAISING DONE", flush=True)
