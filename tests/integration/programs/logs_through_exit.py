"""Logs while the process exits: a daemon thread that never stops.

The thread logs only to the OTLP handler (no console handler: a daemon thread writing to
stdout at interpreter shutdown is a CPython hazard of its own, not the subject here).
"""

from __future__ import annotations

import logging
import threading

log = logging.getLogger("exiting")
logging.getLogger().setLevel(logging.INFO)
started = threading.Event()


def keep_logging() -> None:
    n = 0
    while True:
        log.info("thread line %d", n)
        n += 1
        started.set()


threading.Thread(target=keep_logging, name="keeps-logging", daemon=True).start()
started.wait(30)
print("EXITING DONE", flush=True)
