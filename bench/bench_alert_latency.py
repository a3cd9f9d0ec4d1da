"""Time to alert and to resolve, in-process rules vs span metrics -> Prometheus rules, one failure.

The example services run under ``opentelemetry-instrument`` with the example in-process rules
(examples/rules/) against the real native stack, whose Prometheus loads the twin rules
(deploy/prometheus/rules/red.yaml). Checkouts go on at a steady rate; at a recorded instant
every checkout starts failing (``?fail=1``, the examples' fault switch). For each path the
benchmark records when Alertmanager first holds ``CheckoutErrors`` active (label ``source``):
the alert's ``updatedAt``, which Alertmanager sets when it receives it, read by polling its API
every 20 ms. Once both fired, the failure stops and it records when each alert leaves the API.

The figure that compares the paths is the delay **after the rule's condition holds in the
traffic sent** (the failing checkout after which errors/checkouts over the window first
exceed 5 % with at least min_spans checkouts, as sent by this benchmark): fire time minus
condition time, per path, and last their ratio, Prometheus path / in-process. The condition
time is when that checkout was *sent*, so the in-process delay includes the request itself.

Two rows, each on a fresh stack: the shipped defaults of both paths, then the Prometheus path
with its fastest sensible settings (1 s evaluation, 1 s span_metrics flush, 200 ms span batch
delay). The in-process path runs with its shipped settings in both rows. Each row's settings
are read from the files the run used and printed with the figures.

    python bench/bench_alert_latency.py [--runs 2] [--rate 2]

It starts its own stack (temp data dir) on the stack's fixed ports: run it where they are free,
e.g. in a network namespace of its own. Of the stack it starts only what the two paths use: the
collector (span metrics), Prometheus and Alertmanager; traces and logs the collector cannot
deliver to Jaeger and the log store are retried and dropped, off both paths. Each failure waits for both alerts to resolve (~2 min):
about 13 minutes at --runs 2 (the default, two rows), 17 at --runs 3.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import random
import re
import secrets
import shutil
import statistics
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from harness.apps import ExampleServices, clean_env, start_examples  # noqa: E402
from harness.pipeline_probe import PROMETHEUS_METRICS, scrape, total  # noqa: E402
from otelbundle.alerting.section import AlertingConfig  # noqa: E402
from otelbundle.cli.backends import Backends, poll  # noqa: E402
from otelbundle.cli.stack import Stack, StackError  # noqa: E402
from otelbundle.config import format_duration  # noqa: E402

ALERT = "CheckoutErrors"
PATHS = ("in-process", "prometheus")
POLL_S = 0.02
FIRE_TIMEOUT_S = 240.0
RESOLVE_TIMEOUT_S = 420.0
# Each failure starts, and stops, after a random pause of up to this long, so those instants
# fall anywhere in the evaluation (15 s), span_metrics flush and span batch cycles. Without it a
# run starts right after the previous resolve and stops right after the last alert fired, both
# on a Prometheus evaluation tick: every run had the same phase (measured: fired at 15.0 s
# three times; resolved at 119.8 s three times).
PHASE_S = 15.0
WARMUP_S = 65.0  # a full 1m window of good checkouts before the first failure, as before later ones
SDK_BSP_DELAY_MS = 5000  # OTEL_BSP_SCHEDULE_DELAY's SDK default; otelbundle keeps it
SDK_METRIC_INTERVAL_MS = 60000  # OTEL_METRIC_EXPORT_INTERVAL's SDK default
TRACE_LINK = re.compile(r"/trace/([0-9a-f]{32})$")


@dataclass(frozen=True)
class Row:
    key: str  # --row
    name: str
    evaluation_interval: str | None  # None: prometheus.yml as shipped
    span_metrics_flush: str | None  # None: the collector config's default
    bsp_delay_ms: int | None  # None: the SDK default


ROWS = (
    Row("shipped", "shipped defaults", None, None, None),
    Row("fastest", "Prometheus path fastest", "1s", "1s", 200),
)


# ---- the failure and the traffic around it ------------------------------------------


class Traffic:
    """Checkouts at ``rate``/s (a product listing every other one) on one thread; ``failing``
    switches every checkout to ``?fail=1``. Failing checkouts carry a traceparent we chose, so
    an alert's trace link can be checked against them."""

    def __init__(self, base: str, rate: float) -> None:
        self.base, self.interval = base, 1.0 / rate
        self.failing = False
        self.checkouts: list[tuple[float, bool, int]] = []  # (sent at, failing, status)
        self.failing_traces: set[str] = set()
        self.first_failure: float | None = None
        self.first_good_after: float | None = None
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(15)

    def _run(self) -> None:
        n = 0
        next_at = time.monotonic()
        while not self._stop.is_set():
            failing = self.failing
            trace_id = secrets.token_hex(16)
            sent = time.time()
            if failing and self.first_failure is None:
                self.first_failure = sent
            if not failing and self.first_failure is not None and self.first_good_after is None:
                self.first_good_after = sent
            status = request(
                "POST",
                f"{self.base}/checkout" + ("?fail=1" if failing else ""),
                {"sku": "APPLE", "qty": 1},
                {"traceparent": f"00-{trace_id}-{secrets.token_hex(8)}-01"},
            )
            self.checkouts.append((sent, failing, status))
            if failing:
                self.failing_traces.add(trace_id)
            if n % 2 == 0:
                request("GET", f"{self.base}/products")
            n += 1
            next_at += self.interval
            self._stop.wait(max(0.0, next_at - time.monotonic()))

    def reset(self) -> None:
        self.first_failure = self.first_good_after = None
        self.failing_traces = set()

    def condition_true_at(self, window_s: float, ratio: float, min_spans: int) -> float | None:
        """When the rule's condition first held in what was sent: the failing checkout after which
        errors/checkouts over the last ``window_s`` exceeded ``ratio`` with >= ``min_spans``."""
        start = self.first_failure
        if start is None:
            return None
        for sent, failing, _ in self.checkouts:
            if sent < start or not failing:
                continue
            recent = [c for c in self.checkouts if sent - window_s < c[0] <= sent]
            errors = sum(1 for c in recent if c[1])
            if len(recent) >= min_spans and errors / len(recent) > ratio:
                return sent
        return None


def request(
    method: str, url: str, body: object | None = None, headers: Mapping[str, str] | None = None
) -> int:
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(url, data=data, method=method, headers=dict(headers or {}))
    if data is not None:
        req.add_header("Content-Type", "application/json")
    try:
        with urllib.request.urlopen(req, timeout=10) as response:
            return int(response.status)
    except urllib.error.HTTPError as exc:
        return int(exc.code)
    except OSError:
        return 0


# ---- what Alertmanager shows and sends -----------------------------------------------


def active_alerts(backends: Backends) -> dict[str, dict[str, Any]]:
    """The CheckoutErrors alert each path holds at Alertmanager, by ``source``. In-process ones of
    this benchmark only (env=bench), Prometheus ones of the storefront. Suppressed ones count too:
    inhibition (by a BackendDown, say) is about notifications, not about when an alert arrived or left."""
    found: dict[str, dict[str, Any]] = {}
    for alert in backends.alerts(ALERT):
        labels = alert.get("labels", {})
        if alert.get("status", {}).get("state") not in ("active", "suppressed"):
            continue
        source = labels.get("source")
        ours = (
            labels.get("env") == "bench"
            if source == "in-process"
            else labels.get("service_name") == "storefront"
        )
        if source in PATHS and ours:
            found[source] = alert
    return found


def received_at(alert: Mapping[str, Any], start: float, seen: float) -> float:
    """When Alertmanager received the alert (its ``updatedAt``), if that is plausible; else when
    the poll saw it. Both paths are timed the same way."""
    try:
        stamp = datetime.datetime.fromisoformat(str(alert["updatedAt"]).replace("Z", "+00:00")).timestamp()
    except (KeyError, ValueError):
        return seen
    return stamp if start - 1.0 <= stamp <= seen else seen


# ---- one run ------------------------------------------------------------------------


@dataclass
class Run:
    condition_s: float | None = None  # first failure -> the rule's condition holds in what was sent
    fired_s: dict[str, float] = field(default_factory=dict)  # first failure -> active at the API
    resolved_s: dict[str, float] = field(default_factory=dict)  # failure stops -> gone from the API
    links: dict[str, str] = field(default_factory=dict)  # generatorURL of each path's alert
    links_failing_trace: dict[str, bool] = field(default_factory=dict)

    def after_condition(self, source: str) -> float | None:
        """Fire time minus the time the rule's condition held in the traffic sent."""
        fired = self.fired_s.get(source)
        return None if fired is None or self.condition_s is None else fired - self.condition_s


def one_run(traffic: Traffic, backends: Backends, rule: Mapping[str, Any]) -> Run:
    result = Run()
    if active_alerts(backends):
        raise SystemExit(f"{ALERT} is still active before the run: {sorted(active_alerts(backends))}")
    time.sleep(random.uniform(0, PHASE_S))
    traffic.reset()
    traffic.failing = True
    poll(lambda: traffic.first_failure, timeout=10, interval=0.01)
    start = traffic.first_failure
    assert start is not None
    deadline = time.time() + FIRE_TIMEOUT_S
    while len(result.fired_s) < len(PATHS) and time.time() < deadline:
        now = time.time()
        for source, alert in active_alerts(backends).items():
            if source not in result.fired_s:
                result.fired_s[source] = received_at(alert, start, now) - start
                result.links[source] = alert.get("generatorURL", "")
        time.sleep(POLL_S)
    # Not at once: the last path to fire did so on one of its evaluation ticks, and stopping
    # right after it would time every resolve from the same phase of that cycle.
    time.sleep(random.uniform(0, PHASE_S))
    traffic.failing = False
    condition = traffic.condition_true_at(rule["window_s"], rule["ratio"], rule["min_spans"])
    result.condition_s = None if condition is None else condition - start
    for source, url in result.links.items():
        link = TRACE_LINK.search(url)
        result.links_failing_trace[source] = link is not None and link[1] in traffic.failing_traces
    poll(lambda: traffic.first_good_after, timeout=10, interval=0.01)
    stopped = traffic.first_good_after
    assert stopped is not None
    deadline = time.time() + RESOLVE_TIMEOUT_S
    while time.time() < deadline:
        now = time.time()
        active = active_alerts(backends)
        for source in result.fired_s:
            if source not in active and source not in result.resolved_s:
                result.resolved_s[source] = now - stopped
        if not active and len(result.resolved_s) == len(result.fired_s):
            break
        time.sleep(POLL_S)
    return result


# ---- a row: its stack, its apps, its runs -----------------------------------------------


def config_root(row: Row, folder: Path) -> Path:
    """The repository itself, or a copy whose prometheus.yml evaluates at ``row``'s interval."""
    if row.evaluation_interval is None:
        return ROOT
    copy = folder / "config"
    shutil.copytree(ROOT / "otel-collector", copy / "otel-collector")
    shutil.copytree(
        ROOT / "deploy", copy / "deploy", ignore=shutil.ignore_patterns("k8s", "grafana", "compose*")
    )
    path = copy / "deploy" / "prometheus" / "prometheus.yml"
    text = re.sub(
        r"(?m)^(\s*)evaluation_interval: \S+",
        rf"\1evaluation_interval: {row.evaluation_interval}",
        path.read_text(),
    )
    path.write_text(text)
    return copy


def settings(row: Row, root: Path) -> dict[str, dict[str, str]]:
    """What each path ran with, read from the files and variables this row used."""
    ours = yaml.safe_load((ROOT / "examples" / "rules" / "otelbundle.yaml").read_text())["alerting"]
    group = yaml.safe_load((ROOT / "examples" / "rules" / "storefront.rules.yaml").read_text())["groups"][0]
    rule = next(r for r in group["rules"] if r["alert"] == ALERT)
    prom = yaml.safe_load((root / "deploy" / "prometheus" / "prometheus.yml").read_text())["global"]
    red = yaml.safe_load((root / "deploy" / "prometheus" / "rules" / "red.yaml").read_text())["groups"][0]
    twin = next(r for r in red["rules"] if r["alert"] == ALERT)
    collector = yaml.safe_load((root / "otel-collector" / "config.yaml").read_text())
    flush_default = re.search(
        r":-([^}]+)}", collector["connectors"]["span_metrics"]["metrics_flush_interval"]
    )
    am = yaml.safe_load((root / "deploy" / "alertmanager" / "alertmanager.yml").read_text())["route"]
    # The route that pages critical alerts (its matcher may list more severities, e.g. an SLO's `page`).
    critical = next(r for r in am["routes"] if any("critical" in m for m in r.get("matchers", [])))
    group_wait = f"{critical.get('group_wait', am['group_wait'])} ({critical['matchers'][0]} route)"
    bsp = f"{row.bsp_delay_ms if row.bsp_delay_ms is not None else SDK_BSP_DELAY_MS} ms"
    return {
        "in-process": {
            "rule": f"error_ratio > 5% over {rule['window']}, min_spans {rule['min_spans']}, for {rule['for']}, "
            f"keep_firing_for {rule['keep_firing_for']}",
            "evaluation": f"as spans that can make it hold end (folded at most every "
            f"{ours.get('min_fold_interval', format_duration(AlertingConfig(path='').min_fold_interval))}) "
            f"and every {group.get('interval', ours['evaluation_interval'])} (no export on the way)",
            "to Alertmanager": "POST /api/v2/alerts from the process",
            "group_wait": group_wait,
        },
        "prometheus": {
            "rule": f"rate ratio > 5% over [1m], >= 5 calls, for {twin['for']}, "
            f"keep_firing_for {twin['keep_firing_for']}",
            "span batch (OTEL_BSP_SCHEDULE_DELAY)": bsp,
            "collector batch timeout": str(collector["processors"]["batch"]["timeout"]),
            "span_metrics flush": row.span_metrics_flush or (flush_default[1] if flush_default else "?"),
            "Prometheus evaluation_interval": str(prom["evaluation_interval"]),
            "Prometheus scrape_interval": f"{prom['scrape_interval']} (not on this path: span metrics are remote-written)",
            "group_wait": group_wait,
        },
    }


def run_row(row: Row, folder: Path, runs: int, rate: float) -> tuple[list[Run], dict[str, Any]]:
    root = config_root(row, folder)
    shown = settings(row, root)  # read before minutes of runs: a config it cannot read fails now
    env = dict(os.environ)
    if row.span_metrics_flush:
        env["OTELCOL_SPAN_METRICS_FLUSH_INTERVAL"] = row.span_metrics_flush
    stack = Stack(data_dir=folder / "stack", config_root=root, env=env, say=lambda line: None)
    missing = stack.missing_binaries()
    if missing:
        raise SystemExit(
            f"alert latency: skipped (not built: {', '.join(c.name for c in missing)}; run `make stack`)"
        )
    try:
        stack.up(timeout=120)
    except StackError as exc:
        stack.down()
        raise SystemExit(f"alert latency: the stack did not start: {str(exc).splitlines()[0]}") from exc
    backends = Backends()
    apps: ExampleServices | None = None
    traffic: Traffic | None = None
    try:
        loaded = poll(
            lambda: (
                ALERT in json.dumps(json.load(urllib.request.urlopen(f"{backends.prometheus}/api/v1/rules")))
            ),
            timeout=30,
        )
        if not loaded:
            raise SystemExit(f"Prometheus did not load {ALERT} from deploy/prometheus/rules/red.yaml")
        app_env = {
            "OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:4318",
            "OTELBUNDLE_CONFIG": str(ROOT / "examples" / "rules" / "otelbundle.yaml"),
            "ALERTMANAGER_URL": backends.alertmanager,
            "JAEGER_UI_URL": backends.jaeger,
            "DEPLOYMENT_ENV": "bench",
        }
        if row.bsp_delay_ms is not None:
            app_env["OTEL_BSP_SCHEDULE_DELAY"] = str(row.bsp_delay_ms)
        (folder / "apps").mkdir()
        apps = start_examples(clean_env(app_env), folder / "apps")
        traffic = Traffic(apps.storefront_url, rate)
        traffic.start()
        seen = poll(
            lambda: backends.promql(
                'traces_span_metrics_calls_total{service_name="storefront",span_name="POST /checkout"}'
            ),
            timeout=90,
        )
        if not seen:
            raise SystemExit("no checkout span metrics reached Prometheus within 90 s")
        time.sleep(WARMUP_S)
        rule = {"window_s": 60.0, "ratio": 0.05, "min_spans": 5}
        results = []
        began, appended = (
            time.time(),
            total(scrape(PROMETHEUS_METRICS), "prometheus_tsdb_head_samples_appended_total"),
        )
        for i in range(runs):
            result = one_run(traffic, backends, rule)
            print(f"  run {i + 1}/{runs}: {describe(result)}", flush=True)
            results.append(result)
        exemplars = json.load(
            urllib.request.urlopen(
                f"{backends.prometheus}/api/v1/query_exemplars?"
                + urllib.parse.urlencode(
                    {
                        "query": "traces_span_metrics_duration_milliseconds_bucket",
                        "start": time.time() - 3600,
                        "end": time.time(),
                    }
                )
            )
        )
        appended = total(scrape(PROMETHEUS_METRICS), "prometheus_tsdb_head_samples_appended_total") - appended
        statuses = sorted({s for _, failing, s in traffic.checkouts if failing})
        extra = {
            "samples/s": appended / (time.time() - began),
            "settings": shown,
            "exemplars": sum(len(s.get("exemplars", [])) for s in exemplars.get("data", [])),
            "failing statuses": statuses,
        }
        return results, extra
    finally:
        if traffic is not None:
            traffic.stop()
        if apps is not None:
            apps.stop()
        stack.down()


# ---- report ---------------------------------------------------------------------------


def describe(run: Run) -> str:
    parts = [
        f"condition true +{run.condition_s:.1f}s" if run.condition_s is not None else "condition never true"
    ]
    for source in PATHS:
        fired = run.fired_s.get(source)
        resolved = run.resolved_s.get(source)
        after = run.after_condition(source)
        parts.append(
            f"{source}: fired {seconds(fired)} ({seconds(after, 3)} after the condition), resolved {seconds(resolved)}"
        )
    return "; ".join(parts)


def seconds(value: float | None, digits: int = 1) -> str:
    return "NO" if value is None else f"{value:.{digits}f}s"


def spread(values: list[float], digits: int = 1) -> str:
    if not values:
        return "n/a (never)"
    d = digits
    return (
        f"median {statistics.median(values):6.{d}f} s  (min {min(values):.{d}f}, max {max(values):.{d}f}, "
        f"n={len(values)})"
    )


def report(row: Row, runs: list[Run], extra: Mapping[str, Any]) -> tuple[dict[str, float], list[str]]:
    """Prints one row; returns the medians (fire, after the condition) per path, and summary lines."""
    print(
        f"\n{row.name}: {len(runs)} runs; every checkout fails from the first failing one on (HTTP {extra['failing statuses']})"
    )
    for source in PATHS:
        print(f"  {source} settings:")
        for key, value in extra["settings"][source].items():
            print(f"    {key}: {value}")
    print(
        f"  rule condition true in what was sent: {spread([r.condition_s for r in runs if r.condition_s is not None])}"
    )

    def values(get: Callable[[Run], Mapping[str, float]], source: str) -> list[float]:
        return [get(r)[source] for r in runs if source in get(r)]

    for source in PATHS:
        print(f"  {source}:")
        print(
            f"    first failure -> active at Alertmanager API: {spread(values(lambda r: r.fired_s, source))}"
        )
        after = [a for r in runs if (a := r.after_condition(source)) is not None]
        print(f"    condition holds -> active at Alertmanager: {spread(after, 3)}")
        print(
            f"    failure stops -> gone from Alertmanager API: {spread(values(lambda r: r.resolved_s, source))}"
        )
        links = [r.links.get(source, "") for r in runs]
        traced = sum(1 for r in runs if r.links_failing_trace.get(source))
        print(
            f"    alert links a failing checkout's trace: {traced}/{len(runs)} runs; generatorURL e.g. {links[0][:100]}"
        )
    print(
        f"  samples/s appended by Prometheus over the runs (all series; the cost of the settings): {extra['samples/s']:.0f}"
    )
    print(f"  exemplars stored by Prometheus for the span metrics histogram: {extra['exemplars']}")
    fired = {s: values(lambda r: r.fired_s, s) for s in PATHS}
    after = {s: [a for r in runs if (a := r.after_condition(s)) is not None] for s in PATHS}
    summary = [
        f"{row.name:<24} {source:<10}  after the condition {brief(after[source], 3)}  fire {brief(fired[source])}"
        f"  resolve {brief(values(lambda r: r.resolved_s, source))}   trace link "
        f"{sum(1 for r in runs if r.links_failing_trace.get(source))}/{len(runs)}"
        for source in PATHS
    ]
    medians = {f"fire {s}": statistics.median(fired[s]) for s in PATHS if fired[s]}
    medians.update({f"after {s}": statistics.median(after[s]) for s in PATHS if after[s]})
    return medians, summary


def brief(values: list[float], digits: int = 1) -> str:
    if not values:
        return "never".ljust(22)
    d = digits
    return f"{statistics.median(values):5.{d}f} s ({min(values):.{d}f}-{max(values):.{d}f})".ljust(22)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--runs", type=int, default=2, help="failures per row (each waits for both alerts to resolve)"
    )
    parser.add_argument("--rate", type=float, default=2.0, help="checkouts per second")
    parser.add_argument(
        "--row",
        choices=["both", *(r.key for r in ROWS)],
        default="both",
        help="run one row only",
    )
    args = parser.parse_args()
    rows: list[tuple[str, dict[str, float]]] = []
    summary: list[str] = []
    print(
        f"alert latency: {time.strftime('%Y-%m-%d %H:%M')}, storefront + inventory on the native stack, "
        f"{args.rate:g} checkouts/s, Alertmanager polled every {POLL_S} s; load average at start "
        f"{' '.join(f'{x:.2f}' for x in os.getloadavg())} on {os.cpu_count()} cores"
    )
    for row in ROWS:
        if args.row not in ("both", row.key):
            continue
        with tempfile.TemporaryDirectory() as tmp:
            print(f"\n== {row.name}", flush=True)
            runs, extra = run_row(row, Path(tmp), args.runs, args.rate)
            medians, lines = report(row, runs, extra)
            rows.append((row.name, medians))
            summary.extend(lines)
    print(
        "\nmedian (min-max) seconds: after the condition = the rule's condition holds in the checkouts sent ->"
    )
    print("active at Alertmanager; fire = first failing checkout -> active at Alertmanager;")
    print("resolve = first good checkout after the failure -> gone from the API")
    print("\n".join(summary))
    print(f"\nload average at the end: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    for name, medians in rows:
        fire = ratio(medians, "fire")
        print(f"{name}: time to fire (from the first failure), prometheus_path / in_process = {fire}")
    for name, medians in rows:  # last: the figure the paths are compared by
        after = ratio(medians, "after")
        print(f"{name}: delay after the condition holds, prometheus_path / in_process = {after}")


def ratio(medians: Mapping[str, float], what: str) -> str:
    ours, theirs = medians.get(f"{what} in-process"), medians.get(f"{what} prometheus")
    if ours is None or theirs is None:
        return "n/a (a path never fired)"
    return f"{theirs:.3f} s / {ours:.3f} s = {theirs / ours:.1f}×" if ours > 0 else "n/a (in-process 0 s)"


if __name__ == "__main__":
    main()
