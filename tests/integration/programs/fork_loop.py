"""Fork in a tight loop while two threads log and end spans (the alert engine sees every span).

Each child logs, ends a span, flushes and leaves with ``os._exit``; the parent
gives it CHILD_BOUND_S to do so and calls it hung past that (after asking it,
through faulthandler, where its threads are). The threads do not record
metrics: an app thread inside the SDK's recording path at the fork leaves the
SDK's instrument lock held in the child (docs/fork-servers.md), which only the
SDK can reset.
"""

import faulthandler
import json
import logging
import os
import signal
import sys
import threading
import time

from opentelemetry import trace

import otelbundle

CHILD_BOUND_S = 30.0
log = logging.getLogger("fork-loop")
tracer = trace.get_tracer("fork-loop")
stop = threading.Event()


def busy() -> None:
    while not stop.is_set():
        with tracer.start_as_current_span("busy"):
            log.warning("busy")


def child(index: int) -> None:
    with tracer.start_as_current_span("child") as span:
        span.set_attribute("fork.index", index)
        log.warning("child %d", index)
    os._exit(0 if otelbundle.configure().force_flush(CHILD_BOUND_S / 2) else 3)


def wait(pid: int) -> str:
    end = time.monotonic() + CHILD_BOUND_S
    while time.monotonic() < end:
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            code = os.waitstatus_to_exitcode(status)
            return "ok" if code == 0 else f"exit {code}"
        time.sleep(0.005)
    os.kill(pid, signal.SIGUSR1)  # the child's stacks on stderr
    time.sleep(1)
    os.kill(pid, signal.SIGKILL)
    os.waitpid(pid, 0)
    return "hung"


if __name__ == "__main__":
    faulthandler.register(signal.SIGUSR1, all_threads=True)
    threads = [threading.Thread(target=busy, daemon=True) for _ in range(2)]
    for thread in threads:
        thread.start()
    outcomes = {}
    for index in range(int(sys.argv[1])):
        pid = os.fork()
        if pid == 0:
            child(index)
        outcomes[index] = wait(pid)
    stop.set()
    print(json.dumps({"not_ok": {i: o for i, o in outcomes.items() if o != "ok"}}), flush=True)
