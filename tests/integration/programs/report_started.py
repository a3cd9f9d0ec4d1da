"""Does some work, then prints what runs in the process: its threads, and whether the health
port (argv[1]) answers. ``configure`` as argv[2] calls otelbundle.configure() first."""

import logging
import socket
import sys
import threading

if sys.argv[2:] == ["configure"]:
    import otelbundle

    handle = otelbundle.configure()

from opentelemetry import trace

with trace.get_tracer("started").start_as_current_span("started-work"):
    logging.getLogger("started").warning("a log line")
with socket.socket() as probe:
    listening = probe.connect_ex(("127.0.0.1", int(sys.argv[1]))) == 0
print("THREADS", ",".join(sorted(t.name for t in threading.enumerate())), flush=True)
print("HEALTH PORT", "open" if listening else "closed", flush=True)
