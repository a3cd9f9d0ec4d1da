"""A non-web worker: it does nothing but wait, so everything health-related comes from the instrumentor."""

import signal
import threading

stopping = threading.Event()
signal.signal(signal.SIGTERM, lambda *_: stopping.set())
print("worker ready", flush=True)
stopping.wait(120)
print("worker exiting", flush=True)
