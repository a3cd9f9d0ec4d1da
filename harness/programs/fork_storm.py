"""A parent exporting metrics often forks children at random moments; each child reports itself.

    fork_storm.py --reader configured|sdk|otelbundle [--children 20] [--seed N]

``configured``: the meter provider ``opentelemetry-instrument`` set up (run it under the
wrapper); ``sdk`` / ``otelbundle``: a provider built here with the SDK's
``PeriodicExportingMetricReader`` or otelbundle's ``ForkSafeMetricReader`` around the
same OTLP exporter (run it without the wrapper; OTEL_EXPORTER_OTLP_* and
OTEL_METRIC_EXPORT_INTERVAL set the rest).

Every process observes ``storm.process`` {storm.pid, storm.phase}: phase ``parent``
in the parent until the storm is over, ``after`` in the parent after it, ``alive`` in
a child until it starts exiting, ``exiting`` then. A child also adds to the counter
``storm.child.work`` {storm.pid} right after the fork (a new attribute set: the
SDK's recording path). A child lives ``--child-life`` seconds, then flushes as a
worker's exit does (under the wrapper: otelbundle's exit handler; else the SDK's
``MeterProvider.shutdown``) and ends with ``os._exit`` as multiprocessing children
do. A child is *hung* when that flush is still waiting after ``--exit-deadline``
seconds (10 s: a third of the SDK's own 30 s shutdown wait, many times a normal
flush), or when it never ends (killed a minute later; its threads' stacks go to
stderr first). The parent prints one JSON line: the children's pids, the hung
ones, the seed.
"""

from __future__ import annotations

import argparse
import faulthandler
import json
import os
import random
import signal
import sys
import threading
import time
from collections.abc import Iterable
from typing import Any

from opentelemetry import metrics
from opentelemetry.metrics import CallbackOptions, Observation

PHASE = "parent"
HUNG = 3  # a child's exit code when its telemetry shutdown did not finish


def observe(options: CallbackOptions) -> Iterable[Observation]:
    yield Observation(1, {"storm.pid": str(os.getpid()), "storm.phase": PHASE})


def provider_for(reader: str) -> Any:
    if reader == "configured":
        return metrics.get_meter_provider()
    from opentelemetry.exporter.otlp.proto.http.metric_exporter import OTLPMetricExporter
    from opentelemetry.sdk.metrics import MeterProvider
    from opentelemetry.sdk.metrics.export import PeriodicExportingMetricReader

    from otelbundle.sdk.metric_reader import ForkSafeMetricReader

    chosen = (
        PeriodicExportingMetricReader(OTLPMetricExporter())
        if reader == "sdk"
        else ForkSafeMetricReader(OTLPMetricExporter)
    )
    provider = MeterProvider(metric_readers=[chosen])
    metrics.set_meter_provider(provider)
    return provider


def shut_down(reader: str, provider: Any, deadline: float) -> bool:
    """The exit flush a worker runs; False when it was still waiting at ``deadline`` seconds."""
    if reader == "configured":
        import otelbundle

        return otelbundle.configure().shutdown(deadline)  # the wrapper's handle, its exit path
    # The SDK's own exit path (MeterProvider.shutdown, 30 s deadline), watched for `deadline`.
    flush = threading.Thread(target=provider.shutdown, daemon=True)
    flush.start()
    flush.join(deadline)
    return not flush.is_alive()


def record_busily(counter: Any, stop: threading.Event) -> None:
    """An app thread of the parent recording all the time (new attribute sets included)."""
    n = 0
    while not stop.is_set():
        counter.add(1, {"storm.parent.slot": str(n % 50)})
        n += 1


def main() -> None:
    global PHASE
    parser = argparse.ArgumentParser()
    parser.add_argument("--reader", choices=["configured", "sdk", "otelbundle"], required=True)
    parser.add_argument("--children", type=int, default=20)
    parser.add_argument("--seed", type=int, default=None)
    parser.add_argument("--max-gap", type=float, default=0.2, help="seconds between forks: uniform 0..this")
    parser.add_argument("--child-life", type=float, default=1.0)
    parser.add_argument("--exit-deadline", type=float, default=10.0, help="a child's flush at exit")
    parser.add_argument("--warm-up", type=float, default=0.5)
    parser.add_argument("--busy-recorder", action="store_true", help="an app thread recording meanwhile")
    args = parser.parse_args()
    seed = args.seed if args.seed is not None else random.randrange(2**32)
    rng = random.Random(seed)

    faulthandler.register(signal.SIGUSR1, all_threads=True)  # a hung child's stacks, inherited
    provider = provider_for(args.reader)
    meter = provider.get_meter("fork-storm")
    meter.create_observable_gauge("storm.process", callbacks=[observe])
    work = meter.create_counter("storm.child.work")
    stop_recording = threading.Event()
    if args.busy_recorder:
        recorder = meter.create_counter("storm.parent.work")
        threading.Thread(target=record_busily, args=(recorder, stop_recording), daemon=True).start()
    time.sleep(args.warm_up)  # the parent is exporting by now

    children: dict[int, float] = {}
    for _ in range(args.children):
        time.sleep(rng.uniform(0, args.max_gap))
        pid = os.fork()
        if pid == 0:
            PHASE = "alive"
            work.add(1, {"storm.pid": str(os.getpid())})
            time.sleep(args.child_life)
            PHASE = "exiting"
            flushed = shut_down(args.reader, provider, args.exit_deadline)
            os._exit(0 if flushed else HUNG)  # as multiprocessing children end, after their flush
        children[pid] = time.monotonic()

    hung: list[int] = []
    exit_codes: dict[int, int] = {}
    exit_seconds: dict[int, float] = {}  # from the end of its life to its reaping
    for pid, forked in children.items():
        deadline = forked + args.child_life + args.exit_deadline + 60  # never exited at all
        while True:
            done, status = os.waitpid(pid, os.WNOHANG)
            if done:
                exit_codes[pid] = os.waitstatus_to_exitcode(status)
                exit_seconds[pid] = round(time.monotonic() - forked - args.child_life, 2)
                break
            if time.monotonic() > deadline:
                os.kill(pid, signal.SIGUSR1)
                time.sleep(0.5)
                os.kill(pid, signal.SIGKILL)
                os.waitpid(pid, 0)
                hung.append(pid)
                break
            time.sleep(0.02)
    stop_recording.set()
    PHASE = "after"
    time.sleep(args.warm_up)  # the parent keeps exporting after the storm
    print(
        json.dumps(
            {
                "parent": os.getpid(),
                "children": sorted(children),
                "hung": sorted(hung + [pid for pid, code in exit_codes.items() if code == HUNG]),
                "failed": sorted(pid for pid, code in exit_codes.items() if code not in (0, HUNG)),
                "seed": seed,
                "exit_seconds": sorted(exit_seconds.values()),
            }
        ),
        flush=True,
    )
    sys.stdout.flush()


if __name__ == "__main__":
    main()
