"""Five-minute outages, for every backend at once: Prometheus, Jaeger and VictoriaLogs stopped for
5 minutes under steady traffic, then started again. Counted after their return: every metric
sample exported meanwhile stored (bar: at least 99 %), every trace and every log line of a request
made meanwhile stored, nothing refused by a backend and nothing given up by the collector.

One outage for the three stores keeps the suite's time in check (about 6.5 minutes for this
module). test_backend_restarts_e2e.py stops each backend for 30 s; docs/collector.md states
where the limit really is and what this test measured. Figures are printed and written to
figures.json in the module's tmp dir.
"""

from __future__ import annotations

import contextlib
import itertools
import json
import textwrap
import time
from collections.abc import Callable, Iterator, Mapping
from typing import Any

import pytest

from harness.apps import ExampleServices, clean_env, start_examples
from harness.pipeline_probe import (
    COLLECTOR_METRICS,
    PROMETHEUS_METRICS,
    REFUSAL_LOG,
    TSDB_REJECTIONS,
    Sample,
    Traffic,
    log_lines_since,
    log_size,
    max_gap,
    newest_timestamps,
    prometheus_write_counts,
    raw_samples,
    scrape,
    total,
    victorialogs_trace_ids,
)
from otelbundle.cli.backends import BackendError, Backends, poll
from otelbundle.cli.stack import Stack

OUTAGE_S = 300.0
INTERVAL_S = 1.0  # the apps' OTEL_METRIC_EXPORT_INTERVAL: 300 samples per series in the outage
SUITE = "long-outage"
STORES = ("prometheus", "jaeger", "victorialogs")
EXPORTERS = {
    "prometheus_remote_write": "metric_points",
    "otlp_http/jaeger": "spans",
    "otlp_http/victorialogs": "log_records",
}
# After the return: the backlog of 5 minutes drains in order (remote write one request at a time;
# the trace and log queues 10 consumers each), then stragglers are looked up again.
DRAIN_S = 180.0

pytestmark = pytest.mark.timeout(OUTAGE_S + 600)


def app_metric(service: str) -> str:
    """One series per process of ``service``: its memory gauge, exported every interval."""
    return f'process_memory_usage_bytes{{service_name="{service}",e2e_suite="{SUITE}"}}'


@pytest.fixture(scope="module")
def apps(stack: Stack, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ExampleServices]:
    folder = tmp_path_factory.mktemp("long-outage")
    env = clean_env(
        {
            "OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:4318",
            "OTEL_BSP_SCHEDULE_DELAY": "200",
            "OTEL_BLRP_SCHEDULE_DELAY": "200",
            "OTEL_METRIC_EXPORT_INTERVAL": str(int(INTERVAL_S * 1000)),
            "OTEL_RESOURCE_ATTRIBUTES": f"e2e.suite={SUITE}",
        }
    )
    running = start_examples(env, folder)
    yield running
    running.stop()


def _exporter(name: str) -> Callable[[Mapping[str, str]], bool]:
    return lambda labels: labels.get("exporter") == name


def _exporter_counts(samples: list[Sample]) -> dict[str, float]:
    """What the collector gave up on or could not queue, per exporter, and what its receiver refused."""
    counts: dict[str, float] = {}
    for exporter, item in EXPORTERS.items():
        for what in ("send_failed", "enqueue_failed"):
            counts[f"{exporter} {what}"] = total(
                samples,
                f"otelcol_exporter_{what}_{item}",
                _exporter(exporter),
            )
    for item in ("spans", "metric_points", "log_records"):
        counts[f"receiver refused {item}"] = total(samples, f"otelcol_receiver_refused_{item}")
    return counts


def _queue_sizes(samples: list[Sample]) -> dict[str, float]:
    return {
        exporter: total(samples, "otelcol_exporter_queue_size", _exporter(exporter)) for exporter in EXPORTERS
    }


def _in_jaeger(backends: Backends, trace_id: str) -> bool:
    try:
        return bool(backends.trace(trace_id))
    except BackendError:
        return False


def _log_lines(start: float) -> set[str]:
    """trace ids of storefront's "showing N products" lines (one per request) since ``start``."""
    return victorialogs_trace_ids("storefront", "showing", start - 5, time.time() + 1)


def _cadence(stamps: list[float]) -> float:
    """The median spacing of a series' samples: its export cadence (a lost sample makes one
    spacing double, which moves no median)."""
    spacing = sorted(b - a for a, b in itertools.pairwise(sorted(stamps)))
    return spacing[len(spacing) // 2] if spacing else INTERVAL_S


def _fresh_metrics() -> bool:
    newest = [newest_timestamps(app_metric(s)) for s in ("storefront", "inventory")]
    return all(n and time.time() - max(n.values()) < 5 * INTERVAL_S for n in newest)


def test_all_stores_down_five_minutes_under_traffic_nothing_lost_nothing_refused(
    stack: Stack, apps: ExampleServices, backends: Backends, tmp_path_factory: pytest.TempPathFactory
) -> None:
    traffic = Traffic([apps.storefront_url], rate=2.0, max_seconds=OUTAGE_S + 400, max_requests=2000).start()
    try:
        assert poll(_fresh_metrics, timeout=60, interval=1), "the apps' metrics do not reach Prometheus"
        first = poll(lambda: [s for s in traffic.sent if s.status == 200], timeout=30, interval=0.5)
        assert first, f"no request succeeded before the outage: {traffic.sent[-3:]}"
        assert poll(lambda: _in_jaeger(backends, first[0].trace_id), timeout=60), "traces do not reach Jaeger"
        assert poll(lambda: first[0].trace_id in _log_lines(first[0].at), timeout=60), (
            "logs do not reach VictoriaLogs"
        )
        time.sleep(3)  # the first trace's last spans stored too: "still there after" means kept

        components = [stack.component(name) for name in STORES]
        offsets = {c.name: log_size(stack.log_file(c)) for c in components}
        before = _exporter_counts(scrape(COLLECTOR_METRICS))
        peak = _queue_sizes(scrape(COLLECTOR_METRICS))
        stopped_at = time.time()
        for component in components:
            stack.stop_component(component)
        try:
            end = time.monotonic() + OUTAGE_S
            while time.monotonic() < end:
                time.sleep(5)
                with contextlib.suppress(OSError):
                    now = _queue_sizes(scrape(COLLECTOR_METRICS))
                    peak = {k: max(v, now[k]) for k, v in peak.items()}
        finally:
            for component in reversed(components):  # the stores, Prometheus last
                stack.start_component(component)
        back_at = time.time()
        at_ready = prometheus_write_counts(scrape(PROMETHEUS_METRICS))

        # The backlog drains; then what was sent during the outage is looked for.
        drained = poll(
            lambda: not any(_queue_sizes(scrape(COLLECTOR_METRICS)).values()), timeout=DRAIN_S, interval=2
        )
        drained_after = time.time() - back_at
        time.sleep(5)  # the newest batches reach the stores and become searchable
        during = [s for s in traffic.between(stopped_at, back_at)]
        served = {s.trace_id for s in during if s.status == 200}
        missing_lines = served - _log_lines(stopped_at)
        missing_traces = sorted(t for t in served if not _in_jaeger(backends, t))
        end = time.monotonic() + 30  # a straggler gets a second look
        while (missing_lines or missing_traces) and time.monotonic() < end:
            time.sleep(3)
            missing_lines = served - _log_lines(stopped_at)
            missing_traces = [t for t in missing_traces if not _in_jaeger(backends, t)]
    finally:
        traffic.stop()

    samples: dict[str, Any] = {}
    for service in ("storefront", "inventory"):
        series = raw_samples(app_metric(service), stopped_at, back_at)
        stamps = [t for s in series.values() for t in s]
        samples[service] = {
            "series": len(series),
            "stored": len(stamps),
            # What the app exported in the window: one sample per export, at the cadence it
            # really kept (the interval plus its own export time, ~1.006 s measured), not the
            # nominal interval, which would count the machine's drift as loss.
            "expected": sum(round((back_at - stopped_at) / _cadence(s)) for s in series.values()),
            "max_gap_s": round(max_gap(stamps, stopped_at, back_at), 1) if series else None,
        }
    after = _exporter_counts(scrape(COLLECTOR_METRICS))
    given_up = {k: after[k] - before[k] for k in after if after[k] - before[k]}
    prometheus = prometheus_write_counts(scrape(PROMETHEUS_METRICS))
    refused = {k: prometheus[k] for k in ("write_4xx", *TSDB_REJECTIONS) if prometheus[k]}
    if prometheus["write_5xx"] - at_ready["write_5xx"]:
        refused["write_5xx_after_ready"] = prometheus["write_5xx"] - at_ready["write_5xx"]
    refusal_log = log_lines_since(
        stack.log_file(stack.component("prometheus")), offsets["prometheus"], REFUSAL_LOG
    )
    figures: dict[str, Any] = {
        "down_s": round(back_at - stopped_at, 1),
        "queue_peak": peak,
        "queues_drained_after_s": round(drained_after, 1) if drained else None,
        "metric_samples": samples,
        "requests_in_outage": len(during),
        "served_in_outage": len(served),
        "traces_missing": len(missing_traces),
        "log_lines_missing": len(missing_lines),
        "trace_from_before_still_there": _in_jaeger(backends, first[0].trace_id),
        "collector_gave_up_or_refused": given_up,
        "prometheus_since_restart": prometheus,
        "prometheus_503_before_ready": at_ready["write_5xx"],
        "prometheus_refused": refused,
        "prometheus_refusal_log": refusal_log[:5],
    }
    out = tmp_path_factory.mktemp("long-outage-figures") / "figures.json"
    out.write_text(json.dumps(figures, indent=2, default=str))
    print(
        f"\nfive-minute outage of {', '.join(STORES)} ({out}):\n{textwrap.indent(json.dumps(figures, indent=2), '  ')}"
    )

    assert {s.status for s in during} == {200}, f"the app failed requests during the outage: {figures}"
    assert drained, (
        f"the collector's queues were not empty {DRAIN_S:.0f} s after the stores returned: {figures}"
    )
    assert not given_up, f"the collector gave up on or refused data: {given_up}"
    assert not refused and not refusal_log, f"Prometheus refused samples after the outage: {figures}"
    for service, counted in samples.items():
        assert counted["series"], f"no {service} metric series in the outage window"
        assert counted["stored"] >= 0.99 * counted["expected"], (
            f"{service}: {counted['stored']} of {counted['expected']} metric samples exported during the outage stored"
        )
        # Nothing lost anywhere: one missing export makes a gap of two intervals.
        assert counted["max_gap_s"] <= 1.5 * INTERVAL_S + 0.5, f"{service}: metric samples lost: {counted}"
    assert served, "no request was served during the outage"
    assert not missing_traces, (
        f"{len(missing_traces)} of {len(served)} traces of the outage missing in Jaeger"
    )
    assert not missing_lines, f"{len(missing_lines)} of {len(served)} requests of the outage have no log line"
    assert figures["trace_from_before_still_there"], "a trace stored before the outage is gone"
