"""The capacity of the metrics path, and what runaway processes cost it, measured in one run.

Every service's metrics reach Prometheus through one remote-write queue with one request in
flight (otel-collector/config.yaml). This starts our collector build with the shipped config
whole (listeners on free ports) and a real Prometheus taking remote writes, then:

* a steady `checkout` process sends 2 spans a second;
* after 10 s, --processes runaway processes each end --names spans named `op-0` ... (the
  connector re-sends every combination it keeps at each 5 s flush, so a handful of requests is a
  load that lasts);
* every 5 s for --seconds: the samples Prometheus took a second, the collector's and
  Prometheus's CPU, the remote-write queue and the points it refused.

It does that once per span_metrics `aggregation_cardinality_limit` in --limits (shipped: 1000;
5000 was the limit before), and prints for each the medians, the CPU a sample costs, the
newest checkout sample's worst age, and, last, the ratios between the limits.

    python bench/bench_metrics_capacity.py [--processes 3] [--limits 5000,1000] [--seconds 60]

The figures in docs/collector.md ("The capacity of the metrics path") come from it. It needs the
collector build (`make stack`) and a Prometheus (`otelbundle stack install prometheus` or
Debian's); everything listens on free loopback ports. The path is CPU-bound: run it on a machine
doing nothing else, or the figures are the machine's, not the path's.
"""

from __future__ import annotations

import argparse
import itertools
import statistics
import sys
import tempfile
import threading
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from harness.apps import free_port  # noqa: E402
from harness.collector import COLLECTOR, running_collector  # noqa: E402
from harness.prometheus import (  # noqa: E402
    RunningPrometheus,
    post_server_spans,
    process_cpu_seconds,
    running_prometheus,
)
from harness.shipped_collector import RESOURCE, own_metric, shipped_config  # noqa: E402

SERVICE = {a.key: a.value.string_value for a in RESOURCE.attributes}
SAMPLE_EVERY_S = 5.0
EXPORTER = "prometheus_remote_write"


@dataclass
class Sample:
    samples_per_s: float
    collector_cpu: float  # cores
    prometheus_cpu: float
    queue: float
    capacity: float


@dataclass
class Result:
    limit: int
    samples: list[Sample] = field(default_factory=list)
    refused_points: float = 0.0
    runaway_series: float = 0.0
    checkout_worst_age_s: float = 0.0

    def median(self, what: str) -> float:
        return statistics.median(getattr(s, what) for s in self.samples)

    def cpu_us_per_sample(self, what: str) -> float:
        cores = sum(getattr(s, what) for s in self.samples)
        written = sum(s.samples_per_s for s in self.samples)
        return 1e6 * cores / written if written else float("nan")


def _prometheus_counter(prometheus: RunningPrometheus, name: str) -> float:
    with urllib.request.urlopen(f"{prometheus.url}/metrics", timeout=30) as response:
        text = response.read().decode()
    return sum(
        float(line.rsplit(" ", 1)[1])
        for line in text.splitlines()
        if line.startswith((name + " ", name + "{"))
    )


def _steady_checkout(otlp_port: int, stop: threading.Event) -> None:
    while not stop.is_set():
        post_server_spans(otlp_port, "checkout", "checkout-1", ["POST /checkout", "GET /cart"], SERVICE)
        stop.wait(1.0)


def measure(limit: int, processes: int, names: int, seconds: float, folder: Path) -> Result:
    result = Result(limit)
    otlp_port, metrics_port = free_port(), free_port()
    config: dict[str, Any] = shipped_config(folder, otlp_port, metrics_port)
    config["connectors"]["span_metrics"]["aggregation_cardinality_limit"] = limit
    with running_prometheus(folder) as prometheus:
        config["exporters"][EXPORTER]["http"]["endpoint"] = f"{prometheus.url}/api/v1/write"
        with running_collector(folder, config) as collector:
            stop = threading.Event()
            steady = threading.Thread(target=_steady_checkout, args=(otlp_port, stop), daemon=True)
            steady.start()
            time.sleep(10)
            for process in range(processes):
                for first in range(0, names, 1000):
                    batch = [f"op-{i}" for i in range(first, min(names, first + 1000))]
                    post_server_spans(otlp_port, "runaway", f"runaway-{process}", batch, SERVICE)
            started = time.time()

            def totals() -> tuple[float, float, float, float]:
                return (
                    time.monotonic(),
                    _prometheus_counter(prometheus, "prometheus_remote_storage_samples_in_total"),
                    process_cpu_seconds(collector.pid),
                    process_cpu_seconds(prometheus.pid),
                )

            last = totals()
            while time.time() - started < seconds:
                time.sleep(SAMPLE_EVERY_S)
                now = totals()
                elapsed = now[0] - last[0]
                result.samples.append(
                    Sample(
                        samples_per_s=(now[1] - last[1]) / elapsed,
                        collector_cpu=(now[2] - last[2]) / elapsed,
                        prometheus_cpu=(now[3] - last[3]) / elapsed,
                        queue=own_metric(metrics_port, "otelcol_exporter_queue_size", exporter=EXPORTER),
                        capacity=own_metric(
                            metrics_port, "otelcol_exporter_queue_capacity", exporter=EXPORTER
                        ),
                    )
                )
                last = now
                print(
                    f"  limit {limit}, {time.time() - started:5.0f} s: {result.samples[-1].samples_per_s:8.0f}"
                    f" samples/s, queue {result.samples[-1].queue:.0f}",
                    file=sys.stderr,
                    flush=True,
                )
            stop.set()
            result.refused_points = own_metric(
                metrics_port, "otelcol_exporter_enqueue_failed_metric_points", exporter=EXPORTER
            )
            window = int(time.time() - started) + 1
            checkout = 'traces_span_metrics_calls_total{service_instance_id="checkout-1", span_name="POST /checkout"}'
            result.checkout_worst_age_s = prometheus.scalar(
                f"max_over_time((time() - timestamp({checkout}))[{window}s:1s])"
            )
            result.runaway_series = prometheus.scalar(
                'count({__name__=~"traces_span_metrics_.+", service_name="runaway"})'
            )
    return result


def report(result: Result, processes: int) -> None:
    peak_queue = max(s.queue for s in result.samples)
    capacity = result.samples[-1].capacity
    print(
        f"limit {result.limit}, {processes} runaway processes: {result.runaway_series:.0f} of their series"
        f" per flush; median {result.median('samples_per_s'):.0f} samples/s written;"
        f" collector {result.median('collector_cpu'):.2f} core, Prometheus {result.median('prometheus_cpu'):.2f} core"
        f" ({result.cpu_us_per_sample('collector_cpu'):.0f} + {result.cpu_us_per_sample('prometheus_cpu'):.0f} us"
        f" a sample); remote-write queue peak {peak_queue:.0f} of {capacity:.0f};"
        f" {result.refused_points:.0f} points refused; checkout's newest sample at worst"
        f" {result.checkout_worst_age_s:.1f} s old"
    )


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--processes", type=int, default=3, help="runaway processes (default 3)")
    parser.add_argument("--names", type=int, default=5100, help="span names in each (default 5100)")
    parser.add_argument(
        "--limits",
        default="5000,1000",
        help="aggregation_cardinality_limit values to compare (default 5000,1000)",
    )
    parser.add_argument("--seconds", type=float, default=60.0, help="how long to watch each (default 60)")
    args = parser.parse_args()
    if not COLLECTOR.exists():
        print(f"{COLLECTOR} is not built: run `make stack` first", file=sys.stderr)
        return 2
    try:
        limits = [int(v) for v in args.limits.split(",")]
    except ValueError:
        print(f"--limits {args.limits!r}: whole numbers separated by commas, e.g. 5000,1000", file=sys.stderr)
        return 2
    print(
        f"metrics path: our collector ({COLLECTOR.parent.name}) with otel-collector/config.yaml, a real"
        f" Prometheus; {args.processes} runaway processes x {args.names} span names beside a steady service,"
        f" watched {args.seconds:.0f} s a limit"
    )
    results = []
    for limit in limits:
        with tempfile.TemporaryDirectory(prefix="bench-metrics-") as folder:
            results.append(measure(limit, args.processes, args.names, args.seconds, Path(folder)))
        report(results[-1], args.processes)
    for before, after in itertools.pairwise(results):
        print(
            f"limit {after.limit} / limit {before.limit}: series per flush"
            f" {after.runaway_series / max(before.runaway_series, 1):.2f}, samples/s written"
            f" {after.median('samples_per_s') / max(before.median('samples_per_s'), 1):.2f},"
            f" collector CPU {after.median('collector_cpu') / max(before.median('collector_cpu'), 0.01):.2f},"
            f" queue peak {max(s.queue for s in after.samples):.0f} against {max(s.queue for s in before.samples):.0f}"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
