"""A worker whose checks never return (a sleep, a spin); once the hung check has been skipped for
20 intervals it prints, as JSON, the names of the health threads alive, then exits."""

import json
import sys
import threading
import time

from otelbundle.health.instrumentor import HealthInstrumentor

scheduler = HealthInstrumentor().scheduler
deadline = time.monotonic() + 60
while scheduler is not None and time.monotonic() < deadline:
    if min(scheduler.skipped().values(), default=0) >= 20:
        break
    time.sleep(0.05)
skipped = scheduler.skipped() if scheduler else {}
names = sorted(t.name for t in threading.enumerate() if t.name.startswith("otelbundle-health"))
print(json.dumps({"skipped": skipped, "threads": names}), flush=True)
sys.exit(0)
