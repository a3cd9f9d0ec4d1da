"""The metrics path in steady state: samples reach Prometheus seconds after the app exports them,
each process is its own series, and nothing is refused or dropped on the way.

The regression this guards: with the remote-write exporter's WAL, samples arrived about once a
minute and Prometheus refused a steady stream of them as out of order (run against that config,
all four tests fail: p95 age 58 s, 93 of 126 writes refused in the minute). One minute of light
traffic through two storefront processes (1 s export interval) and one inventory, sampled every 2 s.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path

import pytest

from harness.apps import Example, clean_env, start_example
from harness.pipeline_probe import (
    COLLECTOR_METRICS,
    PROMETHEUS_METRICS,
    REFUSAL_LOG,
    Traffic,
    ages,
    collector_metric_counts,
    delta,
    log_lines_since,
    log_size,
    percentile,
    prometheus_write_counts,
    raw_samples,
    scrape,
)
from otelbundle.cli.backends import BackendError, poll
from otelbundle.cli.stack import Stack

INTERVAL_S = 1.0  # OTEL_METRIC_EXPORT_INTERVAL of the processes under test
WINDOW_S = 60.0
EVERY_S = 2.0
# Newest-sample age bound at p95, for a 1 s export interval: the sample is taken at most 1 s before
# the next export, the collector's batch processor holds it up to 1 s (timeout: 1s), the remote
# write itself takes milliseconds; 3 s more for a shared 2-core machine. A WAL-style burst
# (about once a minute) is an order of magnitude above it.
APP_AGE_P95_S = 5.0
# span_metrics flushes every 5 s (metrics_flush_interval), then the same batch + write.
SPAN_FLUSH_S = 5.0
SPAN_AGE_MAX_S = SPAN_FLUSH_S + 5.0
SUITE = "freshness"  # resource attribute e2e.suite: our series, not the session fixture's
APP = f'process_memory_usage_bytes{{service_name="storefront",e2e_suite="{SUITE}"}}'
SPANS = (
    f'traces_span_metrics_calls_total{{service_name="storefront",e2e_suite="{SUITE}",'
    'span_name="GET /products"}'
)


@dataclass
class Apps:
    inventory: Example
    storefronts: list[Example]

    def stop(self) -> None:
        for example in [*self.storefronts, self.inventory]:
            example.stop()


@dataclass
class Window:
    """What one minute of traffic measured; written to figures.json in the test's tmp dir."""

    seconds: float = 0.0
    requests: int = 0
    instances: list[str] = field(default_factory=list)
    app_ages: list[dict[str, float]] = field(default_factory=list)
    span_ages: list[dict[str, float]] = field(default_factory=list)
    query_errors: list[str] = field(default_factory=list)
    samples_per_instance: dict[str, int] = field(default_factory=dict)
    prometheus: dict[str, float] = field(default_factory=dict)
    collector: dict[str, float] = field(default_factory=dict)
    refusal_log_lines: list[str] = field(default_factory=list)

    def flat(self, which: list[dict[str, float]]) -> list[float]:
        return [age for sample in which for age in sample.values()]

    def summary(self) -> dict[str, object]:
        app, spans = self.flat(self.app_ages), self.flat(self.span_ages)
        return {
            "window_s": round(self.seconds, 1),
            "requests": self.requests,
            "app_age_s": _stats(app),
            "span_metrics_age_s": _stats(spans),
            "samples_per_instance": self.samples_per_instance,
            "expected_per_instance": round(self.seconds / INTERVAL_S),
            "prometheus_delta": self.prometheus,
            "collector_delta": self.collector,
            "refusal_log_lines": len(self.refusal_log_lines),
        }


def _stats(values: list[float]) -> dict[str, float]:
    if not values:
        return {}
    return {
        "n": len(values),
        "p50": round(percentile(values, 50), 2),
        "p95": round(percentile(values, 95), 2),
        "max": round(max(values), 2),
    }


@pytest.fixture(scope="module")
def apps(stack: Stack, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Apps]:
    folder = tmp_path_factory.mktemp("freshness")
    env = clean_env(
        {
            "OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:4318",
            "OTEL_BSP_SCHEDULE_DELAY": "200",
            "OTEL_BLRP_SCHEDULE_DELAY": "200",
            "OTEL_METRIC_EXPORT_INTERVAL": str(int(INTERVAL_S * 1000)),
            "OTEL_RESOURCE_ATTRIBUTES": f"e2e.suite={SUITE}",
        }
    )
    logs = [folder / name for name in ("inventory", "storefront-1", "storefront-2")]
    for path in logs:
        path.mkdir()
    inventory = start_example(
        "inventory",
        {**env, "OTEL_SERVICE_NAME": "inventory", "INVENTORY_DB": str(folder / "inv.db")},
        logs[0],
    )
    running = Apps(inventory, [])
    try:
        for log_dir in logs[1:]:
            running.storefronts.append(
                start_example(
                    "storefront",
                    {**env, "OTEL_SERVICE_NAME": "storefront", "INVENTORY_URL": inventory.url},
                    log_dir,
                )
            )
        yield running
    finally:
        running.stop()


@pytest.fixture(scope="module")
def window(stack: Stack, apps: Apps, tmp_path_factory: pytest.TempPathFactory) -> Window:
    traffic = Traffic(
        [s.url for s in apps.storefronts], rate=2.0, max_seconds=WINDOW_S + 120, max_requests=500
    )
    traffic.start()
    try:

        def both_processes_live() -> dict[str, float] | None:
            app = ages(APP)
            if len(app) == 2 and max(app.values()) < APP_AGE_P95_S and len(ages(SPANS)) == 2:
                return app
            return None

        warm = poll(both_processes_live, timeout=90, interval=1)
        assert warm, (
            f"both storefront processes' metrics did not reach Prometheus within 90 s: app series "
            f"{_try(lambda: ages(APP))}, span-metric series {_try(lambda: ages(SPANS))}"
        )
        return _measure(stack, traffic, sorted(warm), tmp_path_factory.mktemp("freshness-figures"))
    finally:
        traffic.stop()


def _try(fetch: Callable[[], object]) -> object:
    try:
        return fetch()
    except BackendError as exc:
        return str(exc)


def _measure(stack: Stack, traffic: Traffic, instances: list[str], out: Path) -> Window:
    measured = Window(instances=instances)
    prometheus_log = stack.log_file(stack.component("prometheus"))
    log_offset = log_size(prometheus_log)
    prometheus_before = prometheus_write_counts(scrape(PROMETHEUS_METRICS))
    collector_before = collector_metric_counts(scrape(COLLECTOR_METRICS))
    start = time.time()
    tick = time.monotonic()
    while time.monotonic() - tick < WINDOW_S:
        try:
            measured.app_ages.append(ages(APP))
            measured.span_ages.append(ages(SPANS))
        except BackendError as exc:
            measured.query_errors.append(str(exc))
        time.sleep(max(0.0, EVERY_S - (time.monotonic() - tick) % EVERY_S))
    end = time.time()
    # Counters last: what the window's final exports cost is inside the deltas.
    measured.prometheus = delta(prometheus_write_counts(scrape(PROMETHEUS_METRICS)), prometheus_before)
    measured.collector = delta(collector_metric_counts(scrape(COLLECTOR_METRICS)), collector_before)
    measured.refusal_log_lines = log_lines_since(prometheus_log, log_offset, REFUSAL_LOG)
    measured.seconds = end - start
    measured.requests = len(traffic.between(start, end))
    for key, stamps in raw_samples(APP, start, end).items():
        instance = json.loads(key).get("service_instance_id", "")
        measured.samples_per_instance[instance] = len(stamps)
    figures = {**measured.summary(), "raw": asdict(measured)}
    (out / "figures.json").write_text(json.dumps(figures, indent=2))
    print(f"\nmetrics freshness figures ({out / 'figures.json'}):")
    print(json.dumps(measured.summary(), indent=2))
    return measured


def test_app_metrics_newest_sample_is_at_most_5s_old_at_p95(window: Window) -> None:
    assert not window.query_errors, f"Prometheus queries failed during the window: {window.query_errors}"
    assert len(window.app_ages) >= WINDOW_S / EVERY_S - 2
    values = window.flat(window.app_ages)
    p95 = percentile(values, 95)
    assert p95 <= APP_AGE_P95_S, (
        f"newest process_memory_usage_bytes sample was {p95:.1f} s old at p95 (bound {APP_AGE_P95_S} s for a "
        f"{INTERVAL_S:.0f} s export interval); ages seen: {sorted(values)}"
    )


def test_span_metrics_newest_sample_is_at_most_flush_plus_5s_old(window: Window) -> None:
    values = window.flat(window.span_ages)
    assert values, "no traces_span_metrics_calls_total sample for storefront during the window"
    assert max(values) <= SPAN_AGE_MAX_S, (
        f"newest span-metrics sample was up to {max(values):.1f} s old (bound: flush interval {SPAN_FLUSH_S:.0f} s "
        f"+ 5 s); ages seen: {sorted(values)}"
    )


def test_each_process_is_its_own_series_and_every_export_is_stored(window: Window) -> None:
    missing = [sample for sample in window.app_ages if set(sample) != set(window.instances)]
    assert not missing, f"a storefront process had no series at some samples: {missing[:3]}"
    span_instances = {key for sample in window.span_ages for key in sample}
    assert span_instances == set(window.instances), (
        f"span metrics are not per process: {span_instances} vs app series {window.instances}"
    )
    # Every 1 s export is a sample; 10 % slack for the reader's drift (export time adds to
    # each period) and the window's edges. A lost batch or a minute-long burst gap fails it.
    expected = window.seconds / INTERVAL_S
    assert set(window.samples_per_instance) == set(window.instances), (
        f"samples stored during the window, per process: {window.samples_per_instance}; "
        f"processes: {window.instances}"
    )
    short = {i: n for i, n in window.samples_per_instance.items() if n < 0.9 * expected}
    assert not short, f"fewer samples stored than exported (~{expected:.0f} per process): {short}"


def test_no_sample_is_refused_by_prometheus_or_dropped_by_the_collector(window: Window) -> None:
    prometheus, collector = window.prometheus, window.collector
    assert prometheus["write_2xx"] > 0, f"no successful remote write during the window: {prometheus}"
    refused = {k: v for k, v in prometheus.items() if k not in ("write_2xx", "samples_appended") and v}
    assert not refused, f"Prometheus refused remote-write requests or samples during the window: {refused}"
    assert not window.refusal_log_lines, (
        f"Prometheus logged {len(window.refusal_log_lines)} refusals, e.g. {window.refusal_log_lines[:3]}"
    )
    assert collector["sent_points"] > 0, f"the collector sent no metric points: {collector}"
    dropped = {
        k: v
        for k, v in collector.items()
        if k
        in ("send_failed_points", "enqueue_failed_points", "receiver_refused_points", "failed_translations")
        and v
    }
    assert not dropped, f"the collector dropped or refused metric points during the window: {dropped}"
