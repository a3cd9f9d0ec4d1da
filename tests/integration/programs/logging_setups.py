"""Apps that configure logging in the usual ways; prints what the root logger ends up with."""

import logging
import logging.config
import sys

from opentelemetry import trace

mode = sys.argv[1]
if mode == "basicConfig":
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s %(message)s")
    logging.basicConfig(level=logging.INFO)  # apps call it twice more often than one would think
elif mode == "dictConfig":
    logging.config.dictConfig(
        {
            "version": 1,
            "formatters": {"plain": {"format": "%(levelname)s %(name)s %(message)s"}},
            "handlers": {
                "out": {"class": "logging.StreamHandler", "formatter": "plain", "stream": "ext://sys.stdout"}
            },
            "root": {"level": "INFO", "handlers": ["out"]},
        }
    )
elif mode == "own-handler":
    handler = logging.StreamHandler(sys.stdout)
    handler.setFormatter(logging.Formatter("%(levelname)s %(name)s %(message)s"))
    app_logger = logging.getLogger("app")
    app_logger.addHandler(handler)
    app_logger.setLevel(logging.INFO)
    app_logger.propagate = False

log = logging.getLogger("app")
with trace.get_tracer("t").start_as_current_span("work"):
    log.warning("the one line")
otel = [h for h in logging.getLogger().handlers if type(h).__name__ == "LoggingHandler"]
print(f"OTLP HANDLERS {len(otel)}", flush=True)
