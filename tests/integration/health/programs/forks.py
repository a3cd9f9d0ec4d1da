"""Forks after start-up (as gunicorn does with its workers) and reports from the child
whether it has a live scheduler of its own that produced results."""

import os
import time
import urllib.request

from otelbundle.health.instrumentor import HealthInstrumentor

time.sleep(0.2)
pid = os.fork()
if pid == 0:
    instrumentor = HealthInstrumentor()
    scheduler = instrumentor.scheduler
    deadline = time.monotonic() + 10
    while scheduler is not None and not scheduler.results() and time.monotonic() < deadline:
        time.sleep(0.1)
    alive = scheduler is not None and scheduler.alive()
    names = sorted(r.name for r in scheduler.results()) if scheduler else []
    print(f"child alive={alive} results={names} server={instrumentor.server is not None}", flush=True)
    os._exit(0)
os.waitpid(pid, 0)
print(f"parent alive={HealthInstrumentor().scheduler.alive()}", flush=True)
# The child closed its copy of the probe socket; the parent still answers.
url = f"http://127.0.0.1:{os.environ['PROBE_PORT']}/healthz"
print("parent probe", urllib.request.urlopen(url, timeout=5).read().decode(), flush=True)
