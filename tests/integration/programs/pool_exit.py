"""A forked multiprocessing.Pool used as a context manager, as most code uses one.

Leaving the ``with`` block terminates the workers (SIGTERM) while they may still
be flushing their telemetry at exit: the flush must end before they die.
"""

import logging
import multiprocessing
import os
import sys

from opentelemetry import trace

log = logging.getLogger("pool")
RUN = sys.argv[1] if len(sys.argv) > 1 else "0"


def work(index: int) -> int:
    with trace.get_tracer("pool").start_as_current_span("pool-work") as span:
        span.set_attribute("pool.run", RUN)
        span.set_attribute("pool.index", index)
        log.warning("pool run %s work %d in pid %d", RUN, index, os.getpid())
    return os.getpid()


if __name__ == "__main__":
    with multiprocessing.get_context("fork").Pool(2) as pool:
        pids = pool.map(work, range(4), chunksize=1)
    print(f"POOL DONE {len(set(pids))} workers", flush=True)
