"""Logs, counts and traces under the distro; prints, as JSON, every module a thread other than
the main thread imported (each as [thread name, module name]).

Run without the wrapper: it starts the auto-instrumentation itself, as the wrapper's
sitecustomize does, once its watch is in place, so the threads are watched from their start."""

import json
import logging
import sys
import threading
import time

imports: list[tuple[str, str]] = []


class Watch:
    """A meta path finder that only looks: who imports what, from which thread."""

    def find_spec(self, name: str, path: object = None, target: object = None) -> None:
        if threading.current_thread() is not threading.main_thread():
            imports.append((threading.current_thread().name, name))


sys.meta_path.insert(0, Watch())

from opentelemetry.instrumentation.auto_instrumentation import initialize  # noqa: E402

initialize()

from opentelemetry import metrics, trace  # noqa: E402

tracer = trace.get_tracer("thread-imports")
orders = metrics.get_meter("thread-imports").create_counter("orders")
log = logging.getLogger("thread-imports")
for i in range(3):
    with tracer.start_as_current_span("POST /checkout"):
        log.warning("order %d declined", i)
        orders.add(1)
time.sleep(float(sys.argv[1]))  # every export thread has exported by then (short intervals)
print(json.dumps(imports))
