"""Starts the health checks as opentelemetry-instrument would, watches which modules the
health threads import, and prints them (as JSON) once every check has a result.

A fork (gunicorn --preload) while a thread imports a module leaves that module's import lock
held for ever in the child: the health threads must import nothing of their own kinds' needs."""

import json
import sys
import threading
import time

imports: list[str] = []


class Watch:
    """A meta path finder that only looks."""

    def find_spec(self, name: str, path: object = None, target: object = None) -> None:
        if threading.current_thread().name.startswith("otelbundle-health"):
            imports.append(name)


sys.meta_path.insert(0, Watch())

from otelbundle.health.instrumentor import HealthInstrumentor  # noqa: E402

instrumentor = HealthInstrumentor()
instrumentor.instrument(config_path=sys.argv[1])
scheduler = instrumentor.scheduler
deadline = time.monotonic() + 30
while scheduler is not None and len(scheduler.results()) < int(sys.argv[2]) and time.monotonic() < deadline:
    time.sleep(0.05)
print(json.dumps({"results": len(scheduler.results()) if scheduler else 0, "imports": imports}))
