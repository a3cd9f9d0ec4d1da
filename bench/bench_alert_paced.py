"""CPU the alert rules add to a service at a steady request rate, measured in one run.

bench_alerting.py measures the span cost at full speed: a loop making spans as
fast as it can, where every fold takes in thousands of spans and its fixed
costs (one window update per rule and signature, the exemplars, the early
evaluation) vanish per span. A service at 100 requests per second is the
opposite case: the engine thread folds a few dozen spans every
``min_fold_interval`` (50 ms), so those fixed costs are most of the work.

Here a request is 5 spans (a server span with a database call, a rendering
step, an outgoing HTTP call and a cache lookup), made at ``--rate`` requests
per second, paced by sleeping, as a service waiting on its clients would be.
Each round runs the SDK alone and the SDK with the 10 rules of
bench_alerting.py (the engine thread started as in an application) for
``--seconds`` each, in alternating order, each side with a fresh provider; it
reports the CPU time of all threads of the process per second and per request,
the engine thread's own CPU (the steady figure), what the rules add to the
whole process (noisy: the SDK alone varies from round to round), and (counted
around the engine's fold) how many folds a second, of how many spans, at what
CPU each, and how long the oldest span of each fold had waited: how late a
span counts.

    python bench/bench_alert_paced.py [--rate 100] [--seconds 5] [--rounds 8]
"""

from __future__ import annotations

import argparse
import contextlib
import statistics
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import NamedTuple

from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.trace import SpanKind, StatusCode

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "bench"))

from bench_alerting import TEN_RULES, make_provider, rules_config  # noqa: E402

from otelbundle.alerting.alert import Alert  # noqa: E402
from otelbundle.alerting.manager import RuleManager  # noqa: E402
from otelbundle.alerting.section import load_alerting_config  # noqa: E402

ROUTES = ("/checkout", "/products", "/cart", "/login", "/stock/{sku}", "/orders/{id}")
ENGINE_THREAD = "otelbundle-alert-engine"


def serve(provider: TracerProvider, rate: float, seconds: float) -> int:
    """Make requests of 5 spans at ``rate`` a second for ``seconds``; 1 in 50 fails. Returns how many."""
    tracer = provider.get_tracer("bench")
    started = time.monotonic()
    served = 0
    while (now := time.monotonic()) - started < seconds:
        wait = started + served / rate - now
        if wait > 0:
            time.sleep(wait)
        route = ROUTES[served % len(ROUTES)]
        served += 1
        failed = served % 50 == 0
        with tracer.start_as_current_span(
            f"{'POST' if route == '/checkout' else 'GET'} {route}",
            kind=SpanKind.SERVER,
            attributes={
                "http.route": route,
                "http.request.method": "POST" if route == "/checkout" else "GET",
                "http.response.status_code": 500 if failed else 200,
            },
        ) as span:
            with tracer.start_as_current_span(
                "SELECT shop", kind=SpanKind.CLIENT, attributes={"db.system": "sqlite"}
            ):
                pass
            with tracer.start_as_current_span("render"):
                pass
            with tracer.start_as_current_span(
                "GET", kind=SpanKind.CLIENT, attributes={"http.request.method": "GET"}
            ):
                pass
            with tracer.start_as_current_span("cache lookup"):
                pass
            if failed:
                span.set_status(StatusCode.ERROR)
    return served


def quartiles(values: list[float], digits: int = 1) -> str:
    q1, _, q3 = statistics.quantiles(sorted(values), n=4)
    return f"{q1:.{digits}f}-{q3:.{digits}f}"


def thread_cpu(name: str) -> float:
    """CPU seconds of the live thread called ``name`` (0 when there is none)."""
    for thread in threading.enumerate():
        if thread.name == name and thread.ident is not None:
            return time.clock_gettime(time.pthread_getcpuclockid(thread.ident))
    return 0.0


@dataclass
class Folds:
    """The engine's folds, counted around Engine.fold (bench instrumentation)."""

    calls: int = 0
    cpu: float = 0.0  # seconds of the engine thread inside them
    waits: list[float] = field(default_factory=list)  # ms the oldest span of each fold had waited


class Side(NamedTuple):
    cpu: float  # seconds, all threads of the process
    engine: float  # seconds, the alert engine's thread
    folds: Folds
    served: int
    wall: float


def count_folds(manager: RuleManager) -> Folds:
    """Count the engine's folds from now on, and how long the oldest queued span had waited for each."""
    counted = Folds()
    engine = manager.engine
    fold = engine.fold
    queue = manager.processor._queue

    def timed(now: float) -> list[Alert]:
        with contextlib.suppress(IndexError):  # empty: a tick's fold with nothing queued
            end = queue[0].end_time
            if end is not None:
                counted.waits.append((time.time_ns() - end) / 1e6)
        started = time.thread_time()
        try:
            return fold(now)
        finally:
            counted.calls += 1
            counted.cpu += time.thread_time() - started

    engine.fold = timed  # type: ignore[method-assign]
    return counted


def run_side(folder: Path | None, rate: float, seconds: float, min_fold_interval: str | None = None) -> Side:
    """One side's run: the SDK alone (``folder`` None) or with the 10 rules written into ``folder``."""
    manager = None
    if folder is not None:
        extra = f"  min_fold_interval: {min_fold_interval}\n" if min_fold_interval else ""
        config = load_alerting_config(str(rules_config(folder, TEN_RULES, extra)), {})
        assert config is not None
        manager = RuleManager(config, dispatcher=type("D", (), {"submit": lambda self, a: None})())
        manager.start()
    provider = make_provider(manager.processor if manager is not None else None)
    serve(provider, rate, min(1.0, seconds))  # warm up: plans, windows, the first tick
    folds = count_folds(manager) if manager is not None else Folds()
    engine_started, cpu_started, wall_started = (
        thread_cpu(ENGINE_THREAD),
        time.process_time(),
        time.monotonic(),
    )
    served = serve(provider, rate, seconds)
    if manager is not None:
        manager.processor.drain(time.time())  # what is still queued belongs to this run
    cpu = time.process_time() - cpu_started
    engine = thread_cpu(ENGINE_THREAD) - engine_started
    wall = time.monotonic() - wall_started
    if manager is not None:
        manager.stop()
    provider.shutdown()
    return Side(cpu, engine, folds, served, wall)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rate", type=float, default=100.0, help="requests per second (5 spans each)")
    parser.add_argument("--seconds", type=float, default=5.0, help="per side and round")
    parser.add_argument("--rounds", type=int, default=8)
    parser.add_argument(
        "--min-fold-interval",
        metavar="DURATION",
        help="the rules' min_fold_interval (default: shipped, 50ms)",
    )
    args = parser.parse_args()
    per_second: dict[str, list[float]] = {"sdk": [], "rules": []}
    per_request: dict[str, list[float]] = {"sdk": [], "rules": []}
    engine_share: list[float] = []
    folds_per_second: list[float] = []
    fold_ms: list[float] = []
    spans_per_fold: list[float] = []
    waits: list[float] = []
    added: list[float] = []
    ratios: list[float] = []
    rates: list[float] = []
    with tempfile.TemporaryDirectory() as tmp:
        for round_number in range(args.rounds):
            sides = ["sdk", "rules"] if round_number % 2 == 0 else ["rules", "sdk"]
            measured: dict[str, Side] = {}
            for side in sides:
                folder = Path(tmp) if side == "rules" else None
                measured[side] = run_side(folder, args.rate, args.seconds, args.min_fold_interval)
            for side, run in measured.items():
                per_second[side].append(run.cpu / run.wall * 1e3)
                per_request[side].append(run.cpu / run.served * 1e6)
            rules = measured["rules"]
            engine_share.append(rules.engine / rules.wall * 1e3)
            folds_per_second.append(rules.folds.calls / rules.wall)
            fold_ms.append(rules.folds.cpu / max(1, rules.folds.calls) * 1e3)
            spans_per_fold.append(5 * rules.served / max(1, rules.folds.calls))
            waits.extend(rules.folds.waits)
            rates.append(rules.served / rules.wall)
            added.append(per_request["rules"][-1] - per_request["sdk"][-1])
            ratios.append(per_request["rules"][-1] / per_request["sdk"][-1])
    print(
        f"python {sys.version.split()[0]}; {args.rounds} rounds x {args.seconds:g} s per side, "
        f"{statistics.median(rates):.0f} requests/s x 5 spans, paced; "
        f"min_fold_interval {args.min_fold_interval or '50ms (shipped)'}; CPU time of all threads"
    )
    for side, label in (("sdk", "SDK alone"), ("rules", "SDK + 10 rules")):
        print(
            f"  {label:<15} {statistics.median(per_second[side]):6.2f} ms/s "
            f"(quartiles {quartiles(per_second[side])}); "
            f"{statistics.median(per_request[side]):6.1f} us a request"
        )
    print(
        f"  the engine thread: {statistics.median(engine_share):.2f} ms/s "
        f"({statistics.median(engine_share) * 1e3 / statistics.median(rates):.1f} us a request); "
        f"{statistics.median(folds_per_second):.1f} folds a second of ~{statistics.median(spans_per_fold):.0f} spans, "
        f"{statistics.median(fold_ms):.2f} ms of CPU each"
    )
    print(
        f"  whole process (noisy): the rules add {statistics.median(added):.1f} us a request (quartiles {quartiles(added)}), "
        f"{statistics.median(added) * statistics.median(rates) / 1e3:.2f} ms/s; "
        f"with rules / SDK alone: median {statistics.median(ratios):.3f} (quartiles {quartiles(ratios, 3)})"
    )
    print(
        f"  how late a span counts: the oldest span of a fold had waited a median {statistics.median(waits):.0f} ms, "
        f"95th percentile {statistics.quantiles(waits, n=20)[-1]:.0f} ms, at most {max(waits):.0f} ms ({len(waits)} folds)"
    )


if __name__ == "__main__":
    main()
