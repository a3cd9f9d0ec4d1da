"""multiprocessing with the fork start method: each child does traced, logged work."""

import logging
import multiprocessing
import os

from opentelemetry import trace

log = logging.getLogger("multiproc")


def child(index: int) -> None:
    with trace.get_tracer("multiproc").start_as_current_span("child-work"):
        log.warning("child %d in pid %d", index, os.getpid())


if __name__ == "__main__":
    logging.basicConfig(level=logging.INFO)
    context = multiprocessing.get_context("fork")
    workers = [context.Process(target=child, args=(i,)) for i in range(2)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    print("MULTIPROC DONE", flush=True)
