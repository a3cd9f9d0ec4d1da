"""A signal that lands while the main thread holds the alert engine's wake lock.

The main thread takes that lock whenever it ends the first span after the engine drained
its queue (``Event.set``): a SIGHUP or SIGTERM between two of its bytecodes there runs the
handler with the lock held. The program holds it on purpose, then signals itself:
``hup`` changes the rule file (its modification time put back, so only SIGHUP can load
it) and expects the reload; ``term`` ends spans first and expects to die of SIGTERM with
them delivered.
"""

import gc
import os
import signal
import sys
import time

from opentelemetry import trace

from otelbundle.alerting.manager import RuleManager


def manager() -> RuleManager:
    return next(o for o in gc.get_objects() if isinstance(o, RuleManager))


def main(mode: str, rule_file: str) -> None:
    rules = manager()
    if mode == "hup":
        stat = os.stat(rule_file)
        with open(rule_file, "a") as out:
            out.write("      - {alert: Second, spans: {service: sig}, expr: error_count > 0}\n")
        os.utime(rule_file, ns=(stat.st_atime_ns, stat.st_mtime_ns))
        with rules._wake._cond:
            os.kill(os.getpid(), signal.SIGHUP)
            time.sleep(0.05)  # the handler runs here, the lock held
        print("ALIVE", flush=True)
        deadline = time.monotonic() + 5
        while len(rules.engine.config.rules) != 2 and time.monotonic() < deadline:
            time.sleep(0.05)
        print("RELOADED" if len(rules.engine.config.rules) == 2 else "NOT RELOADED", flush=True)
    else:
        for index in range(3):
            with trace.get_tracer("sig").start_as_current_span(f"before-term-{index}"):
                pass
        with rules._wake._cond:
            os.kill(os.getpid(), signal.SIGTERM)
            time.sleep(60)
        print("NOT KILLED", flush=True)


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
