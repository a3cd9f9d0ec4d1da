"""An app with its own dictConfig format that prints the correlation fields (OTELBUNDLE_LOG_CORRELATION=fields)."""

import logging
import logging.config

from opentelemetry import trace

logging.config.dictConfig(
    {
        "version": 1,
        "formatters": {
            "ids": {"format": "%(levelname)s trace=%(otelTraceID)s span=%(otelSpanID)s %(message)s"}
        },
        "handlers": {
            "out": {"class": "logging.StreamHandler", "formatter": "ids", "stream": "ext://sys.stdout"}
        },
        "root": {"level": "INFO", "handlers": ["out"]},
    }
)
with trace.get_tracer("t").start_as_current_span("work"):
    logging.getLogger("app").warning("the one line")
