"""Freshness and loss of the metrics path (app -> collector -> remote write -> Prometheus),
measured in one run against the real stack.

For each export interval (1 s, then the SDK default 60 s) a storefront and an inventory run
under light traffic (2 checkouts/s). Every 0.5 s the benchmark reads each series' newest sample
from Prometheus and records

* freshness: its age (now - its timestamp), what a dashboard or alert sees;
* delivery: for each sample seen for the first time, how long after its timestamp it was seen
  (the pipeline's own delay, independent of the export interval; 0.5 s resolution);

and, over the window, metric points/s accepted from the apps and sent to Prometheus by the
collector (its own counters) against samples/s Prometheus stored for the run's series.

    python bench/bench_metrics_freshness.py [--seconds 60] [--slow-seconds 150]

It starts its own stack (temp data dir) on the stack's fixed ports: run it where they are free,
e.g. in a network namespace of its own.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from harness.apps import clean_env, start_examples  # noqa: E402
from harness.pipeline_probe import (  # noqa: E402
    COLLECTOR_METRICS,
    PROMETHEUS_METRICS,
    Traffic,
    collector_metric_counts,
    delta,
    newest_timestamps,
    percentile,
    prometheus_write_counts,
    promql,
    raw_samples,
    scrape,
)
from otelbundle.cli.backends import poll  # noqa: E402
from otelbundle.cli.stack import Stack, StackError  # noqa: E402

POLL_S = 0.5


@dataclass
class Result:
    interval_s: float
    seconds: float = 0.0
    ages: dict[str, list[float]] = field(default_factory=dict)  # by kind: app / span metrics
    delivery: dict[str, list[float]] = field(default_factory=dict)
    collector: dict[str, float] = field(default_factory=dict)
    prometheus: dict[str, float] = field(default_factory=dict)
    stored_samples: float = 0.0
    gauge_counts: dict[str, int] = field(default_factory=dict)


def series(label: str) -> dict[str, str]:
    return {
        "app": f'process_memory_usage_bytes{{bench_run="{label}"}}',
        "span metrics": f'traces_span_metrics_calls_total{{bench_run="{label}",span_kind="SPAN_KIND_SERVER"}}',
    }


def run(stack: Stack, folder: Path, interval_ms: int, seconds: float) -> Result:
    label = f"i{interval_ms}"
    env = clean_env(
        {
            "OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:4318",
            "OTEL_METRIC_EXPORT_INTERVAL": str(interval_ms),
            "OTEL_RESOURCE_ATTRIBUTES": f"bench.run={label}",
        }
    )
    (folder / label).mkdir()
    apps = start_examples(env, folder / label)
    interval = interval_ms / 1000
    traffic = Traffic(
        [apps.storefront_url], rate=2.0, max_seconds=seconds + interval + 120, max_requests=5000
    )
    traffic.start()
    result = Result(interval)
    selectors = series(label)
    try:
        warm = poll(
            lambda: len(newest_timestamps(selectors["app"], by="service_name")) == 2, timeout=interval + 60
        )
        if not warm:
            raise SystemExit(f"no metrics of run {label} reached Prometheus within {interval + 60:.0f} s")
        collector_before = collector_metric_counts(scrape(COLLECTOR_METRICS))
        prometheus_before = prometheus_write_counts(scrape(PROMETHEUS_METRICS))
        seen: dict[tuple[str, str], float] = {}
        start = time.time()
        while time.time() - start < seconds:
            now = time.time()
            for kind, selector in selectors.items():
                for name, ts in newest_timestamps(selector, by="service_name").items():
                    result.ages.setdefault(kind, []).append(now - ts)
                    if (kind, name) in seen and ts > seen[(kind, name)]:
                        result.delivery.setdefault(kind, []).append(now - ts)
                    seen[(kind, name)] = ts
            time.sleep(max(0.0, POLL_S - (time.time() - now)))
        end = time.time()
        result.seconds = end - start
        result.collector = delta(collector_metric_counts(scrape(COLLECTOR_METRICS)), collector_before)
        result.prometheus = delta(prometheus_write_counts(scrape(PROMETHEUS_METRICS)), prometheus_before)
        window = f"{round(result.seconds)}s"
        # Raw samples, counted here: count_over_time over many metric names would drop __name__
        # and collide.
        stored = raw_samples(f'{{bench_run="{label}"}}', start, end)
        result.stored_samples = sum(len(stamps) for stamps in stored.values())
        for row in promql(f"count_over_time({selectors['app']}[{window}])", at=end):
            result.gauge_counts[row["metric"].get("service_name", "")] = int(float(row["value"][1]))
    finally:
        traffic.stop()
        apps.stop()
    return result


def spread(values: Sequence[float]) -> str:
    if not values:
        return "n=0"
    return (
        f"n={len(values):<4} p50 {statistics.median(values):6.2f}  p95 {percentile(values, 95):6.2f}  "
        f"max {max(values):6.2f}"
    )


def report(result: Result) -> None:
    s = result.seconds
    c, p = result.collector, result.prometheus
    print(f"\nexport interval {result.interval_s:g} s, {s:.0f} s measured, polled every {POLL_S} s")
    for kind in ("app", "span metrics"):
        print(f"  freshness, {kind:<12} (age of newest sample, s): {spread(result.ages.get(kind, []))}")
        print(f"  delivery,  {kind:<12} (first seen - timestamp, s): {spread(result.delivery.get(kind, []))}")
    print(
        f"  collector: {c['receiver_accepted_points'] / s:7.1f} points/s accepted from the apps, "
        f"{c['sent_points'] / s:7.1f} points/s sent to Prometheus (incl. span metrics), "
        f"{c['send_failed_points']:.0f} failed, {c['enqueue_failed_points']:.0f} not queued"
    )
    print(
        f"  prometheus: {result.stored_samples / s:7.1f} samples/s stored for the run's series "
        f"(a histogram point is several samples); {p['write_2xx']:.0f} writes accepted, "
        f"{p['write_4xx']:.0f} refused (4xx), {p['prometheus_tsdb_out_of_order_samples_total']:.0f} "
        "out-of-order samples"
    )
    expected = s / result.interval_s
    counts = ", ".join(f"{name} {n}" for name, n in sorted(result.gauge_counts.items()))
    print(
        f"  gauge process_memory_usage_bytes: samples stored per process {counts} (exports in window ~{expected:.1f})"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=60, help="window with a 1 s export interval")
    parser.add_argument(
        "--slow-seconds", type=float, default=150, help="window with the default 60 s interval"
    )
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        stack = Stack(data_dir=folder / "stack", config_root=ROOT, say=lambda line: None)
        missing = stack.missing_binaries()
        if missing:
            print(
                f"metrics freshness: skipped (not built: {', '.join(c.name for c in missing)}; run `make stack`)"
            )
            return
        try:
            stack.up(timeout=120)
        except StackError as exc:
            stack.down()
            print(f"metrics freshness: skipped (the stack did not start: {str(exc).splitlines()[0]})")
            return
        try:
            print(f"metrics freshness: {time.strftime('%Y-%m-%d %H:%M')}, one stack, storefront + inventory")
            report(run(stack, folder, 1000, args.seconds))
            report(run(stack, folder, 60000, args.slow_seconds))
        finally:
            stack.down()


if __name__ == "__main__":
    main()
