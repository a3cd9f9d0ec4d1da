"""Each backend stopped for 30 s under steady traffic, one at a time (and Prometheus and the log
store, VictoriaLogs, killed with SIGKILL): every signal resumes within a stated bound once the backend is back, the
outage shows in the collector's (or the app's) own metrics, and what was lost is measured.

test_failures_e2e.py covers Jaeger down with ten requests and the app through a collector
restart; this file keeps traffic flowing through every outage, restarts the collector while
Jaeger and VictoriaLogs are down (their queues on disk), and measures time-to-resume and loss per signal.
Figures are printed and written to figures.json in the module's tmp dir.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import textwrap
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from datetime import datetime
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
    checkout_at,
    log_lines_since,
    log_size,
    max_gap,
    newest_timestamps,
    products_at,
    prometheus_write_counts,
    promql,
    raw_samples,
    scrape,
    total,
    victorialogs_trace_ids,
)
from otelbundle.cli.backends import BackendError, Backends, poll
from otelbundle.cli.stack import Stack

OUTAGE_S = 30.0
CRASH_DOWN_S = 5.0  # a crash, then a supervisor's restart delay
INTERVAL_S = 2.0  # OTEL_METRIC_EXPORT_INTERVAL of the app
SUITE = "restarts"
APP = f'process_memory_usage_bytes{{service_name="storefront",e2e_suite="{SUITE}"}}'
PRW, JAEGER, LOGS = "prometheus_remote_write", "otlp_http/jaeger", "otlp_http/victorialogs"

# Bounds on time-to-resume, counted from the moment the backend is healthy again.
# Metrics: the remote-write exporter retries the batch at the head of its queue after
# retry_on_failure's initial_interval (1 s, +/- 50 %; max_interval 10 s), the backlog drains
# in order, then the next 2 s export and the 1 s batch: well under 20 s. "Never" was the bug.
METRICS_RESUME_S = 20.0
# Traces and logs: the persistent queues' exporters (OTLP/HTTP, no connection
# backoff) retry at most 5 s apart (+/- 50 % jitter: 7.5 s), then the queue ahead
# of the new data drains; 20 s leaves room for a loaded machine. Over gRPC to
# Jaeger it took up to 36 s (the channel's reconnect backoff).
QUEUED_RESUME_S = 20.0
# Alerts: the app's notifier backs off 0.5 s * 2^attempt (the fifth wait is 8 s +/- 20 %)
# and resends active alerts every resend_delay (2 s here).
ALERTS_RESUME_S = 20.0
# After Prometheus is back: this long with no refused sample counts as steady state.
STEADY_S = 10.0

RULES = """
groups:
  - name: e2e-restarts
    interval: 500ms
    rules:
      - alert: E2ERestartHeartbeat
        spans: {service: storefront, kind: server, name: "GET /products"}
        expr: count > 0
        window: 4s
        labels: {suite: e2e-restarts}
      - alert: E2ERestartErrors
        spans: {service: storefront, kind: server, name: "POST /checkout"}
        expr: error_ratio > 20%
        window: 4s
        labels: {suite: e2e-restarts}
"""

FIGURES: dict[str, dict[str, Any]] = {}


def record(name: str, **figures: Any) -> None:
    FIGURES[name] = figures
    print(f"\n{name}: {json.dumps(figures, default=str)}", flush=True)


@pytest.fixture(scope="module")
def apps(stack: Stack, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ExampleServices]:
    folder = tmp_path_factory.mktemp("restarts")
    (folder / "rules.yaml").write_text(textwrap.dedent(RULES))
    (folder / "otelbundle.yaml").write_text(
        "alerting:\n  rule_files: [rules.yaml]\n  resend_delay: 2s\n"
        "  notify:\n    alertmanager: {url: http://127.0.0.1:9093}\n"
    )
    env = clean_env(
        {
            "OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:4318",
            "OTEL_BSP_SCHEDULE_DELAY": "200",
            "OTEL_BLRP_SCHEDULE_DELAY": "200",
            "OTEL_METRIC_EXPORT_INTERVAL": str(int(INTERVAL_S * 1000)),
            "OTEL_RESOURCE_ATTRIBUTES": f"e2e.suite={SUITE}",
            "OTELBUNDLE_CONFIG": str(folder / "otelbundle.yaml"),
        }
    )
    running = start_examples(env, folder)
    yield running
    running.stop()


@pytest.fixture(scope="module")
def traffic(apps: ExampleServices, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Traffic]:
    """Three GET /products a second for the whole module (bounded: 10 min, 2 000 requests)."""
    running = Traffic([apps.storefront_url], rate=3.0, max_seconds=600, max_requests=2000).start()
    yield running
    running.stop()
    out = tmp_path_factory.mktemp("restart-figures") / "figures.json"
    out.write_text(json.dumps(FIGURES, indent=2, default=str))
    print(f"\nbackend restart figures ({out}):\n{json.dumps(FIGURES, indent=2, default=str)}")


# ---- an outage ----------------------------------------------------------------------


@dataclass
class Outage:
    component: str
    stopped_at: float  # wall clock
    back_at: float  # wall clock, once healthy again
    queue_peak: dict[str, float]  # otelcol_exporter_queue_size by exporter, polled each second
    failed: dict[str, float]  # otelcol_exporter_send_failed_* over the outage, by exporter
    log_offset: int  # the component's log, where its restarted process begins
    before: list[Sample]  # the collector's own metrics just before the stop
    # Prometheus only: its remote-write counters the moment it answered /-/ready.
    prometheus_at_ready: dict[str, float] | None = None

    @property
    def down_s(self) -> float:
        return self.back_at - self.stopped_at


EXPORTERS = {PRW: "metric_points", JAEGER: "spans", LOGS: "log_records"}


def _exporter(name: str) -> Callable[[Mapping[str, str]], bool]:
    return lambda labels: labels.get("exporter") == name


def _queue_sizes(samples: list[Sample]) -> dict[str, float]:
    return {name: total(samples, "otelcol_exporter_queue_size", _exporter(name)) for name in EXPORTERS}


def _failed(samples: list[Sample]) -> dict[str, float]:
    return {
        name: total(samples, f"otelcol_exporter_send_failed_{item}", _exporter(name))
        for name, item in EXPORTERS.items()
    }


def _kill(pid: int) -> None:
    os.kill(pid, signal.SIGKILL)
    end = time.monotonic() + 10
    while time.monotonic() < end:
        with contextlib.suppress(ChildProcessError):
            if os.waitpid(pid, os.WNOHANG)[0] == pid:  # the stack fixture started it: our child
                return
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return
        time.sleep(0.1)


def outage(stack: Stack, name: str, down_s: float, *, kill: bool = False) -> Outage:
    """Stop (or SIGKILL) one component, keep it down ``down_s`` while watching the collector's
    queues, then start it again and wait until it is healthy."""
    component = stack.component(name)
    before = scrape(COLLECTOR_METRICS)
    peak = _queue_sizes(before)
    stopped_at = time.time()
    if kill:
        pid = next(s.pid for s in stack.status() if s.name == name)
        assert pid is not None, f"{name} is not running"
        _kill(pid)
    else:
        stack.stop_component(component)
    try:
        end = time.monotonic() + down_s
        while time.monotonic() < end:
            time.sleep(1)
            with contextlib.suppress(OSError):
                for exporter, size in _queue_sizes(scrape(COLLECTOR_METRICS)).items():
                    peak[exporter] = max(peak[exporter], size)
    finally:
        offset = log_size(stack.log_file(component))
        stack.start_component(component)
    back_at = time.time()
    at_ready = prometheus_write_counts(scrape(PROMETHEUS_METRICS)) if name == "prometheus" else None
    after = _failed(scrape(COLLECTOR_METRICS))
    failed = {k: after[k] - v for k, v in _failed(before).items()}
    return Outage(name, stopped_at, back_at, peak, failed, offset, before, at_ready)


def timed(check: Callable[[], object], timeout: float, interval: float = 0.5) -> float | None:
    """Seconds until ``check`` is truthy, or None after ``timeout``."""
    start = time.monotonic()
    return time.monotonic() - start if poll(check, timeout=timeout, interval=interval) else None


def drained(exporter: str, timeout: float = 90) -> float | None:
    return timed(lambda: _queue_sizes(scrape(COLLECTOR_METRICS))[exporter] == 0, timeout, 1)


def _newest_app_sample() -> float:
    return max(newest_timestamps(APP).values(), default=0.0)


def _live_metrics() -> None:
    assert poll(lambda: time.time() - _newest_app_sample() < 3 * INTERVAL_S, timeout=90, interval=1), (
        f"no fresh {APP} sample before the outage: newest {_newest_app_sample()}"
    )


# ---- metrics: Prometheus ----------------------------------------------------------------


def _metrics_after_prometheus_outage(stack: Stack, o: Outage) -> dict[str, Any]:
    resume = timed(lambda: _newest_app_sample() > o.back_at, METRICS_RESUME_S)
    drain = drained(PRW)
    time.sleep(STEADY_S)
    # Prometheus' counters restarted with it: their values are "since the restart".
    counts = prometheus_write_counts(scrape(PROMETHEUS_METRICS))
    at_ready = o.prometheus_at_ready or {}
    # Given up by the collector from the stop until now (not only until Prometheus was back).
    failed_points = _failed(scrape(COLLECTOR_METRICS))[PRW] - _failed(o.before)[PRW]
    refusals = log_lines_since(stack.log_file(stack.component("prometheus")), o.log_offset, REFUSAL_LOG)
    stamps = [t for series in raw_samples(APP, o.stopped_at - 20, time.time()).values() for t in series]
    in_outage = [t for t in stamps if o.stopped_at <= t <= o.back_at]
    return {
        "down_s": round(o.down_s, 1),
        "resume_s": resume,
        "queue_drained_after_s": drain,
        "prw_queue_peak": o.queue_peak[PRW],
        "prw_send_failed_points": failed_points,
        "samples_in_outage": len(in_outage),
        "samples_expected_in_outage": round(o.down_s / INTERVAL_S),
        "max_gap_s": round(max_gap(stamps, o.stopped_at, o.back_at), 1),
        "since_restart": counts,
        # 503 "Service Unavailable": Prometheus listens before its TSDB is open and answers
        # remote writes so until it is ready. A retryable answer (the exporter retries 5xx,
        # as the remote-write spec asks): a delay, not a refusal.
        "write_5xx_before_ready": at_ready.get("write_5xx", 0.0),
        "write_5xx_after_ready": counts["write_5xx"] - at_ready.get("write_5xx", 0.0),
        "refusal_log_lines": refusals[:5],
        "refusal_log_count": len(refusals),
    }


def _assert_metrics_came_through(what: str, figures: dict[str, Any]) -> None:
    assert figures["resume_s"] is not None, (
        f"no new {APP} sample within {METRICS_RESUME_S} s after {what}: {figures}"
    )
    since = figures["since_restart"]
    assert since["write_2xx"] > 0, f"no successful remote write since {what}: {since}"
    # Refused: a 4xx (the exporter drops the request for good) or a sample the TSDB would not
    # take. A 5xx once ready would be a fault of its own; before ready it is the 503 above.
    refused = {k: since[k] for k in ("write_4xx", *TSDB_REJECTIONS) if since[k]}
    if figures["write_5xx_after_ready"]:
        refused["write_5xx_after_ready"] = figures["write_5xx_after_ready"]
    assert not refused and not figures["refusal_log_count"], (
        f"Prometheus refused samples after {what} (counters since restart {refused}, "
        f"log: {figures['refusal_log_lines']})"
    )
    assert figures["prw_send_failed_points"] == 0, (
        f"the collector gave up on {figures['prw_send_failed_points']} metric points during {what}: {figures}"
    )
    # Nothing lost: a sample every 2 s throughout; one missing export makes a 4 s gap.
    assert figures["max_gap_s"] <= 1.5 * INTERVAL_S, (
        f"metric samples exported during {what} never reached Prometheus: "
        f"{figures['samples_in_outage']} of ~{figures['samples_expected_in_outage']} stored, longest gap "
        f"{figures['max_gap_s']} s; the collector counted {figures['prw_send_failed_points']} points as failed"
    )


def test_prometheus_stopped_30s_metrics_resume_in_order_and_nothing_is_lost(
    stack: Stack, traffic: Traffic
) -> None:
    _live_metrics()
    o = outage(stack, "prometheus", OUTAGE_S)
    figures = _metrics_after_prometheus_outage(stack, o)
    record("prometheus_stop", **figures)
    _assert_metrics_came_through("a 30 s Prometheus stop", figures)
    assert figures["prw_queue_peak"] > 0 or figures["prw_send_failed_points"] > 0, (
        f"the collector's own metrics do not show the Prometheus outage: {figures}"
    )


def _stored(start: float, end: float) -> set[tuple[str, float]]:
    """(series, timestamp) of every ``APP`` sample Prometheus holds between ``start`` and ``end``."""
    return {(series, t) for series, stamps in raw_samples(APP, start, end).items() for t in stamps}


def test_prometheus_killed_keeps_what_it_stored_and_metrics_resume(stack: Stack, traffic: Traffic) -> None:
    _live_metrics()
    stored_from, stored_to = time.time() - 30, time.time()
    stored_before = _stored(stored_from, stored_to)
    o = outage(stack, "prometheus", CRASH_DOWN_S, kill=True)
    figures = _metrics_after_prometheus_outage(stack, o)
    # The same window read again may hold more: a sample stamped just before ``stored_to`` can
    # still have been on its way when the window was first read. Only a sample missing is a loss.
    stored_after = _stored(stored_from, stored_to)
    gone = sorted(stored_before - stored_after)
    record(
        "prometheus_kill",
        stored_before_kill=len(stored_before),
        stored_after_kill=len(stored_after),
        gone=len(gone),
        **figures,
    )
    assert not gone, (
        f"{len(gone)} of the {len(stored_before)} samples Prometheus had stored before SIGKILL are gone "
        f"(series, timestamp): {gone[:5]}"
    )
    _assert_metrics_came_through("a Prometheus SIGKILL", figures)


# ---- logs: VictoriaLogs -------------------------------------------------------------------------


def _request_lines(start: float) -> set[str]:
    """trace ids of storefront's "showing N products" lines since ``start``."""
    return victorialogs_trace_ids("storefront", "showing", start - 5, time.time() + 1)


def _logs_after_log_store_outage(traffic: Traffic, o: Outage) -> dict[str, Any]:
    def resumed() -> bool:
        after = {s.trace_id for s in traffic.between(o.back_at, time.time())}
        return bool(after & _request_lines(o.back_at))

    resume = timed(resumed, QUEUED_RESUME_S, 1)
    drain = drained(LOGS)
    during = {s.trace_id for s in traffic.between(o.stopped_at, o.back_at) if s.status == 200}
    poll(lambda: not (during - _request_lines(o.stopped_at)), timeout=30, interval=2)
    lost = during - _request_lines(o.stopped_at)
    return {
        "down_s": round(o.down_s, 1),
        "resume_s": resume,
        "queue_drained_after_s": drain,
        "logs_queue_peak": o.queue_peak[LOGS],
        "logs_send_failed_records": o.failed[LOGS],
        "requests_in_outage": len(during),
        "their_log_lines_lost": len(lost),
    }


def _assert_logs_came_through(what: str, figures: dict[str, Any]) -> None:
    assert figures["resume_s"] is not None, (
        f"no storefront log line of a request made after {what} reached VictoriaLogs within {QUEUED_RESUME_S} s: {figures}"
    )
    assert figures["requests_in_outage"] > 0
    assert figures["their_log_lines_lost"] == 0, (
        f"{figures['their_log_lines_lost']} of {figures['requests_in_outage']} requests made during {what} "
        f"have no log line in VictoriaLogs: {figures}"
    )


def test_victorialogs_stopped_30s_logs_resume_and_the_queue_loses_nothing(
    stack: Stack, traffic: Traffic
) -> None:
    o = outage(stack, "victorialogs", OUTAGE_S)
    figures = _logs_after_log_store_outage(traffic, o)
    record("victorialogs_stop", **figures)
    assert figures["logs_queue_peak"] > 0, (
        f"the collector's VictoriaLogs queue never grew during the outage: {figures}"
    )
    _assert_logs_came_through("a 30 s VictoriaLogs stop", figures)


def test_victorialogs_killed_keeps_acknowledged_lines_and_logs_resume(stack: Stack, traffic: Traffic) -> None:
    # Requests 5-20 s old (run alone, this test first waits for the module's traffic to have some).
    window = poll(
        lambda: [s for s in traffic.between(time.time() - 20, time.time() - 5) if s.status == 200],
        timeout=30,
        interval=1,
    )
    assert window, (
        f"no successful request in the traffic of the last 20 s: {traffic.between(0, time.time())[-5:]}"
    )
    earlier = {s.trace_id for s in window}
    acknowledged = poll(
        lambda: (found := earlier & _request_lines(time.time() - 25)) == earlier and found,
        timeout=30,
        interval=1,
    )
    if not acknowledged:
        found = _request_lines(time.time() - 25)
        raise AssertionError(
            f"the log lines of the last 20 s did not reach VictoriaLogs before the kill: {len(earlier - found)} "
            f"of {len(earlier)} requests have none, e.g. {sorted(earlier - found)[:3]}; found {len(found)} lines"
        )
    o = outage(stack, "victorialogs", CRASH_DOWN_S, kill=True)
    figures = _logs_after_log_store_outage(traffic, o)
    kept = earlier & _request_lines(o.stopped_at - 25)
    record("victorialogs_kill", acknowledged_before_kill=len(earlier), still_there_after=len(kept), **figures)
    assert kept == earlier, (
        f"{len(earlier - kept)} of {len(earlier)} lines VictoriaLogs had before SIGKILL are gone"
    )
    _assert_logs_came_through("a VictoriaLogs SIGKILL", figures)


# ---- traces: Jaeger ---------------------------------------------------------------------


def _in_jaeger(backends: Backends, trace_id: str) -> bool:
    try:
        return bool(backends.trace(trace_id))
    except BackendError:
        return False


def _not_in_jaeger(backends: Backends, trace_ids: set[str], timeout: float = 30) -> list[str]:
    """Those of ``trace_ids`` still not in Jaeger after re-checking them for ``timeout`` s."""
    missing = sorted(trace_ids)
    end = time.monotonic() + timeout
    while missing and time.monotonic() < end:
        missing = [t for t in missing if not _in_jaeger(backends, t)]
        if missing:
            time.sleep(2)
    return missing


def test_jaeger_stopped_30s_traces_resume_and_the_queue_loses_nothing(
    stack: Stack, traffic: Traffic, backends: Backends
) -> None:
    before = products_at(traffic.urls[0])
    complete = poll(
        lambda: {s["service"] for s in backends.trace(before.trace_id)} >= {"storefront", "inventory"},
        timeout=60,
    )
    assert complete, "traces do not reach Jaeger to begin with"
    time.sleep(2)  # its last spans stored too, so "still there after the restart" means kept
    o = outage(stack, "jaeger", OUTAGE_S)

    def resumed() -> bool:
        # The first requests made after the restart: any of them in Jaeger means traces
        # flow again. (The newest few instead were always younger than the pipeline's
        # own delay, so on a loaded machine no poll found one.)
        return any(backends.trace(s.trace_id) for s in traffic.between(o.back_at, time.time())[:10])

    resume = timed(resumed, QUEUED_RESUME_S, 1)
    drain = drained(JAEGER)
    during = [s for s in traffic.between(o.stopped_at, o.back_at) if s.status == 200]
    lost = _not_in_jaeger(backends, {s.trace_id for s in during})
    figures: dict[str, Any] = {
        "down_s": round(o.down_s, 1),
        "resume_s": resume,
        "queue_drained_after_s": drain,
        "jaeger_queue_peak": o.queue_peak[JAEGER],
        "jaeger_send_failed_spans": o.failed[JAEGER],
        "requests_in_outage": len(during),
        "their_traces_lost": len(lost),
        # Jaeger's storage is on disk (Badger, deploy/jaeger/config.yaml): a restart keeps it.
        "trace_from_before_restart_still_there": _in_jaeger(backends, before.trace_id),
    }
    record("jaeger_stop", **figures)
    assert figures["jaeger_queue_peak"] > 0, (
        f"the collector's Jaeger queue never grew during the outage: {figures}"
    )
    assert figures["trace_from_before_restart_still_there"], (
        f"a trace Jaeger stored before it was stopped is gone after its restart: {before.trace_id}"
    )
    assert resume is not None, f"no trace made after the restart reached Jaeger within {QUEUED_RESUME_S} s"
    assert during, "no request was made during the outage"
    assert not lost, (
        f"{len(lost)} of {len(during)} traces sent while Jaeger was down never arrived: {lost[:5]}"
    )


# ---- alerts: Alertmanager ---------------------------------------------------------------


def _active(backends: Backends, name: str, since: float = 0.0) -> list[dict[str, Any]]:
    return [
        a
        for a in backends.alerts(name)
        if a.get("labels", {}).get("suite") == "e2e-restarts"
        and a["status"]["state"] == "active"
        and _epoch(a["startsAt"]) >= since
    ]


def _epoch(rfc3339: str) -> float:
    return datetime.fromisoformat(rfc3339.replace("Z", "+00:00")).timestamp()


def _notifier(field: str) -> float:
    rows = promql(
        f'sum(otelbundle_alerting_notifications_{field}_total{{service_name="storefront",e2e_suite="{SUITE}"}})'
    )
    return float(rows[0]["value"][1]) if rows else 0.0


def test_alertmanager_stopped_30s_alerts_are_relisted_and_new_ones_arrive(
    stack: Stack, traffic: Traffic, backends: Backends
) -> None:
    assert poll(lambda: _active(backends, "E2ERestartHeartbeat"), timeout=30), (
        "the heartbeat alert is not at Alertmanager before the outage"
    )
    retried_before = _notifier("retried")
    o = outage(stack, "alertmanager", OUTAGE_S)
    relisted = timed(lambda: _active(backends, "E2ERestartHeartbeat"), ALERTS_RESUME_S, 0.25)
    # Time to a new alert counts from the first failing request, as a user would.
    failing_at = time.monotonic()
    failing = [checkout_at(traffic.urls[0], "FAIL") for _ in range(10)]
    listed = poll(
        lambda: _active(backends, "E2ERestartErrors", since=o.back_at), timeout=ALERTS_RESUME_S, interval=0.25
    )
    fresh = time.monotonic() - failing_at if listed else None
    retried = poll(
        lambda: _notifier("retried") > retried_before and _notifier("retried"), timeout=30, interval=2
    )
    figures = {
        "down_s": round(o.down_s, 1),
        "active_alert_relisted_after_s": relisted,
        "new_alert_listed_s_after_first_failure": fresh,
        "notifier_retries_during_outage": (retried or retried_before) - retried_before,
        "notifier_failed_total": _notifier("failed"),
    }
    record("alertmanager_stop", **figures)
    assert {c.status for c in failing} == {502}
    assert relisted is not None, (
        f"the still-active heartbeat alert was not re-listed within {ALERTS_RESUME_S} s of Alertmanager's restart"
    )
    assert fresh is not None, f"an alert fired after the restart was not listed within {ALERTS_RESUME_S} s"
    assert retried, (
        "the app's notifier metrics (otelbundle_alerting_notifications_retried) do not show the outage"
    )


# ---- the collector itself --------------------------------------------------------------


def test_collector_restart_while_jaeger_and_the_log_store_are_down_loses_nothing(
    stack: Stack, traffic: Traffic, backends: Backends
) -> None:
    """test_failures_e2e.py shows the app keeps serving through a collector restart; here the
    persistent queues hold spans and log lines across it, and every signal is counted."""
    _live_metrics()
    jaeger, logs, collector = (stack.component(n) for n in ("jaeger", "victorialogs", "otelcol-bundle"))
    stopped_at = time.time()
    stack.stop_component(jaeger)
    stack.stop_component(logs)
    try:
        time.sleep(10)  # spans and log lines wait in the collector's file-backed queues
        queued = _queue_sizes(scrape(COLLECTOR_METRICS))
        collector_down_at = time.time()
        stack.stop_component(collector)
        stack.start_component(collector)
        collector_back_at = time.time()
        requeued = _queue_sizes(scrape(COLLECTOR_METRICS))
        time.sleep(5)
    finally:
        if not next(c for c in stack.status() if c.name == collector.name).running:
            stack.start_component(collector)
        stack.start_component(jaeger)
        stack.start_component(logs)
    back_at = time.time()
    traces_drained, logs_drained = drained(JAEGER), drained(LOGS)
    during = [s for s in traffic.between(stopped_at, back_at) if s.status == 200]
    ids = {s.trace_id for s in during}
    poll(lambda: not (ids - _request_lines(stopped_at)), timeout=30, interval=2)
    lines_lost = ids - _request_lines(stopped_at)
    traces_lost = _not_in_jaeger(backends, ids)
    stamps = [t for series in raw_samples(APP, stopped_at - 20, time.time()).values() for t in series]
    # Jaeger and VictoriaLogs took longer to come back than metrics to resume: read it from the samples.
    after = [t - collector_back_at for t in stamps if t > collector_back_at]
    metrics_resume = round(min(after), 1) if after else None
    figures: dict[str, Any] = {
        "collector_down_s": round(collector_back_at - collector_down_at, 1),
        "queued_at_collector_stop": queued,
        "queued_after_collector_start": requeued,
        "requests_in_window": len(during),
        "traces_lost": len(traces_lost),
        "log_lines_lost": len(lines_lost),
        "queues_drained_after_s": {"jaeger": traces_drained, "victorialogs": logs_drained},
        "first_metric_sample_after_restart_s": metrics_resume,
        "metrics_max_gap_s": round(max_gap(stamps, collector_down_at - 5, collector_back_at + 5), 1),
    }
    record("collector_restart", **figures)
    assert queued[JAEGER] > 0 and queued[LOGS] > 0, f"nothing was queued for the stopped backends: {figures}"
    assert requeued[JAEGER] > 0 and requeued[LOGS] > 0, (
        f"the restarted collector did not reload its file-backed queues: {figures}"
    )
    assert metrics_resume is not None and metrics_resume <= METRICS_RESUME_S, (
        f"no metric sample taken within {METRICS_RESUME_S} s of the collector's restart reached Prometheus: {figures}"
    )
    assert during, "no request was made during the window"
    assert not traces_lost, f"{len(traces_lost)} of {len(during)} traces lost across the collector restart"
    assert not lines_lost, f"{len(lines_lost)} of {len(during)} log lines lost across the collector restart"
    # An export that met the collector down is retried by the SDK (backoff from 1 s), and the
    # reader's next collection waits for it: one gap widens by the retry (measured 3.1 s with a
    # 2 s interval) without losing a sample. A gap past two intervals and a second is a loss.
    assert figures["metrics_max_gap_s"] <= 2 * INTERVAL_S + 1.0, (
        f"metric samples lost across the collector restart: {figures}"
    )


def test_the_stack_is_whole_after_the_restarts(stack: Stack, traffic: Traffic) -> None:
    assert traffic.running, "the traffic thread ended early (its bounds are too small for this module)"
    unhealthy = [s.name for s in stack.status() if not s.healthy]
    assert not unhealthy, f"components unhealthy after the restarts: {unhealthy}"
    statuses = {s.status for s in traffic.sent}
    assert statuses == {200}, f"the app failed requests during backend outages: {statuses}"
