"""Soak: does anything on the app side grow, leak or start dropping over time?

    nice -n 10 python bench/soak_app.py [--minutes 25] [--rate 120] [--outage-at 16] [--outage 3]
        [--every 30] [--no-tracemalloc] [--out DIR]

Not a ``bench_*`` script (``make bench`` would run it for 25 minutes); run it by hand.
The two example services run under ``opentelemetry-instrument`` with otelbundle's
defaults plus an ``otelbundle.yaml`` with alert rules that stress what keeps state:
span rules grouped by ``url.path`` (a random sku per request: far more keys than
``max_group_keys``), quantile rules, log rules grouped by the message text (one per
sku), health checks every 5 s, notifications to a local Alertmanager stand-in. Each
app is started through bench/soak_probe.py (tracemalloc and counters inside it).
The telemetry goes to bench/soak_receiver.py, a process of its own, which is stopped
at ``--outage-at`` minutes for ``--outage`` minutes and started again on the same port.

A load generator sends ``--rate`` requests/s: unknown skus at ``/stock/<random>``
(404, a WARNING line each), known skus, product lists, checkouts (most end 409 out
of stock once the seeded stock is gone) and 5 % failing checkouts (inventory's SQL
error: an exception logged in both services, 500 and 502). Every 30 s a row: per app
RSS, traced Python heap (and otelbundle's part of it), threads, fds; spans ended vs
received; the drop counters otelbundle exposes. At the end the apps are stopped
(SIGTERM: their exit summary), and the JSON rows are in ``--out``.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import psutil

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from harness.apps import BIN, EXAMPLES, Program, clean_env, free_port, start  # noqa: E402
from harness.http_sink import Sink  # noqa: E402

APPS = ("inventory", "storefront")

CONFIG = """\
alerting:
  rule_files: ["soak.rules.yaml"]
  evaluation_interval: 1s
  resend_delay: 1m
  notify:
    alertmanager: {url: "${env:SOAK_ALERTMANAGER}"}
health:
  interval: 5s
  timeout: 2s
  checks:
    - {name: inventory, kind: http, url: "${env:INVENTORY_URL:-http://127.0.0.1:1}/healthz"}
    - {name: disk, kind: system, resource: disk, path: /, warning: 99%, critical: 100%}
"""

RULES = """\
groups:
  - name: soak
    interval: 1s
    rules:
      - alert: PathSeen            # one key per random sku: overflows max_group_keys (1000)
        spans: {service: inventory, kind: server}
        expr: count > 0
        window: 1m
        group_by: [url.path]
      - alert: RouteSlow           # quantile, per route
        spans: {kind: server}
        expr: p99 > 20ms
        window: 1m
        group_by: [service.name, http.route]
      - alert: ServerErrors
        spans: {kind: server}
        expr: error_ratio > 1%
        window: 1m
        min_spans: 5
        group_by: [service.name, http.route]
      - alert: WarningsByText      # one key per message text (per sku)
        logs: {severity: ">= WARN"}
        expr: count > 0
        window: 1m
        group_by: [body]
      - alert: LoggedExceptions
        logs: {severity: ">= ERROR"}
        expr: count > 0
        window: 5m
        group_by: [service.name, exception.type]
"""


def _get(url: str, body: dict[str, Any] | None = None) -> int:
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(url, data=data, method="POST" if data else "GET")
    if data is not None:
        request.add_header("Content-Type", "application/json")
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            response.read()
            return int(response.status)
    except urllib.error.HTTPError as exc:
        exc.read()
        return int(exc.code)
    except OSError:
        return 0


class Load:
    """Paced requests from a few threads; counts answers by status."""

    def __init__(self, inventory: str, storefront: str, rate: float, threads: int = 6) -> None:
        self.inventory, self.storefront = inventory, storefront
        self.interval = threads / rate
        self.statuses: dict[int, int] = {}
        self.lock = threading.Lock()
        self.stopping = threading.Event()
        self.threads = [threading.Thread(target=self._run, daemon=True) for _ in range(threads)]

    def start(self) -> None:
        for thread in self.threads:
            thread.start()

    def stop(self) -> None:
        self.stopping.set()
        for thread in self.threads:
            thread.join(15)

    def _one(self, rng: random.Random) -> int:
        roll = rng.random()
        if roll < 0.45:
            return _get(f"{self.inventory}/stock/{rng.getrandbits(40):010x}")
        if roll < 0.55:
            return _get(f"{self.inventory}/stock/{rng.choice(('APPLE', 'PEAR', 'FIG'))}")
        if roll < 0.70:
            return _get(f"{self.storefront}/products")
        if roll < 0.95:
            return _get(
                f"{self.storefront}/checkout", {"sku": rng.choice(("APPLE", "PEAR", "FIG")), "qty": 1}
            )
        return _get(f"{self.storefront}/checkout", {"sku": "FAIL", "qty": 1})

    def _run(self) -> None:
        rng = random.Random()
        next_at = time.monotonic() + rng.random() * self.interval
        while not self.stopping.is_set():
            status = self._one(rng)
            with self.lock:
                self.statuses[status] = self.statuses.get(status, 0) + 1
            next_at += self.interval
            self.stopping.wait(max(0.0, next_at - time.monotonic()))


class Receiver:
    """bench/soak_receiver.py, stoppable and restartable on one port; counts summed over its runs."""

    def __init__(self, port: int, out: Path) -> None:
        self.port, self.out = port, out
        self.process: subprocess.Popen[bytes] | None = None
        self.done: dict[str, int] = {}  # counts of the runs already stopped

    def start(self) -> None:
        self.out.unlink(missing_ok=True)
        script = str(ROOT / "bench" / "soak_receiver.py")
        self.process = subprocess.Popen([sys.executable, script, str(self.port), str(self.out)])
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and _get(f"http://127.0.0.1:{self.port}/") == 0:
            time.sleep(0.1)

    def stop(self) -> None:
        if self.process is not None:
            self.process.terminate()
            self.process.wait(30)
            self.process = None
            for name, value in self.last().get("counts", {}).items():
                self.done[name] = self.done.get(name, 0) + value
            self.out.unlink(missing_ok=True)

    def last(self) -> dict[str, Any]:
        try:
            lines = self.out.read_text().splitlines()
        except FileNotFoundError:
            return {}
        return json.loads(lines[-1]) if lines else {}

    def totals(self) -> dict[str, int]:
        now = self.last().get("counts", {})
        return {k: self.done.get(k, 0) + now.get(k, 0) for k in set(self.done) | set(now)}

    def own(self) -> dict[str, float]:
        return dict(self.last().get("own", {}))


def _last_line(path: Path) -> dict[str, Any]:
    try:
        lines = path.read_text().splitlines()
    except FileNotFoundError:
        return {}
    return json.loads(lines[-1]) if lines else {}


def _otelbundle_lines(program: Program) -> list[str]:
    """otelbundle's own warnings (export failures, recoveries, drops, the exit summary), not alerts."""
    return [line for line in program.output.splitlines() if "WARNING otelbundle:" in line]


def sample(
    started: float, apps: dict[str, Program], probes: dict[str, Path], receiver: Receiver, phase: str
) -> dict[str, Any]:
    row: dict[str, Any] = {"minute": round((time.monotonic() - started) / 60, 2), "phase": phase}
    received = receiver.totals()
    own = receiver.own()
    for name, program in apps.items():
        process = psutil.Process(program.process.pid)
        probe = _last_line(probes[name])
        row[name] = {
            "rss_mb": round(process.memory_info().rss / 2**20, 1),
            "threads": process.num_threads(),
            "fds": process.num_fds(),
            "cpu_s": round(sum(process.cpu_times()[:2]), 1),
            "heap_mb": round(probe.get("heap", 0) / 2**20, 2),
            "heap_otelbundle_kb": round(probe.get("heap_otelbundle", 0) / 1024),
            "heap_opentelemetry_kb": round(probe.get("heap_opentelemetry", 0) / 1024),
            "spans_ended": probe.get("spans_ended"),
            "logs_emitted": probe.get("logs_emitted"),
            "spans_received": received.get(f"spans/{name}", 0),
            "logs_received": received.get(f"logs/{name}", 0),
            "points_received": received.get(f"points/{name}", 0),
            "alerting_drops": {
                k.split("/", 1)[1]: v
                for k, v in own.items()
                if k.startswith(f"{name}/") and (".dropped" in k or ".failed" in k or "overflowed" in k)
            },
            "otelbundle_warnings": len(_otelbundle_lines(program)),
            "growth": probe.get("growth", [])[:5],
            "thread_names": probe.get("thread_names"),
        }
    return row


def _print(row: dict[str, Any]) -> None:
    cells = [f"{row['minute']:5.1f} {row['phase']:<7}"]
    for name in APPS:
        a = row[name]
        cells.append(
            f"{name[:3]} rss {a['rss_mb']:6.1f} heap {a['heap_mb']:6.2f} ob {a['heap_otelbundle_kb']:5d}k "
            f"thr {a['threads']:2d} fd {a['fds']:3d} spans {a['spans_ended']}/{a['spans_received']} "
            f"logs {a['logs_emitted']}/{a['logs_received']} warn {a['otelbundle_warnings']}"
        )
    print(" | ".join(cells), flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--minutes", type=float, default=25)
    parser.add_argument("--rate", type=float, default=120, help="requests per second, all routes")
    parser.add_argument("--outage-at", type=float, default=16, help="minute the receiver stops")
    parser.add_argument("--outage", type=float, default=3, help="minutes it stays down")
    parser.add_argument("--every", type=float, default=30, help="seconds between samples")
    parser.add_argument("--out", type=Path, default=None)
    parser.add_argument("--no-tracemalloc", action="store_true", help="RSS without the probe's own cost")
    args = parser.parse_args()
    out = args.out or Path(tempfile.mkdtemp(prefix="soak-"))
    out.mkdir(parents=True, exist_ok=True)
    (out / "otelbundle.yaml").write_text(CONFIG)
    (out / "soak.rules.yaml").write_text(RULES)
    sink = Sink()
    receiver = Receiver(free_port(), out / "receiver.jsonl")
    receiver.start()
    base = clean_env(
        {
            "OTEL_EXPORTER_OTLP_ENDPOINT": f"http://127.0.0.1:{receiver.port}",
            "OTELBUNDLE_CONFIG": str(out / "otelbundle.yaml"),
            "SOAK_ALERTMANAGER": sink.url,
            "SOAK_PROBE_INTERVAL": str(args.every),
            "SOAK_TRACEMALLOC": "0" if args.no_tracemalloc else "1",
        }
    )
    apps: dict[str, Program] = {}
    probes = {name: out / f"{name}.probe.jsonl" for name in APPS}
    urls: dict[str, str] = {}
    for name in APPS:
        port = free_port()
        env = base | {"OTEL_SERVICE_NAME": name, "PORT": str(port), "INVENTORY_DB": str(out / "inv.db")}
        # the health check's target: inventory checks itself, storefront checks inventory
        env["INVENTORY_URL"] = urls.get("inventory", f"http://127.0.0.1:{port}")
        probe = [sys.executable, str(ROOT / "bench" / "soak_probe.py"), str(probes[name])]
        apps[name] = start([*probe, str(EXAMPLES / name / "app.py")], env, out, name=name)
        urls[name] = f"http://127.0.0.1:{port}"
        apps[name].wait_http(f"{urls[name]}/healthz")
    print(f"soak: {args.minutes} min at {args.rate} req/s, output in {out}; {BIN}", flush=True)
    load = Load(urls["inventory"], urls["storefront"], args.rate)
    started = time.monotonic()
    load.start()
    rows: list[dict[str, Any]] = []
    outage = (args.outage_at * 60, (args.outage_at + args.outage) * 60)
    phase = "steady"
    try:
        next_sample = started + args.every
        while time.monotonic() - started < args.minutes * 60:
            time.sleep(1)
            elapsed = time.monotonic() - started
            if phase == "steady" and elapsed >= outage[0]:
                receiver.stop()
                phase = "down"
            elif phase == "down" and elapsed >= outage[1]:
                receiver.start()
                phase = "after"
            if time.monotonic() >= next_sample:
                next_sample += args.every
                rows.append(sample(started, apps, probes, receiver, phase))
                _print(rows[-1])
                rows[-1]["notifications"] = len(sink.requests)
                (out / "rows.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    finally:
        load.stop()
        time.sleep(args.every + 5)  # a last probe row (its counts), the last batches delivered
        final = {name: sample(started, apps, probes, receiver, "end")[name] for name in APPS}
        for name in ("storefront", "inventory"):
            apps[name].stop()
        time.sleep(6)  # the receiver writes its counts every 5 s
        receiver.stop()
        sink.close()
    summary = {
        "statuses": load.statuses,
        "notifications": len(sink.requests),
        "received": receiver.totals(),
        "sent": {name: (final[name]["spans_ended"], final[name]["logs_emitted"]) for name in APPS},
        "exit": {name: _otelbundle_lines(apps[name]) for name in APPS},
    }
    (out / "summary.json").write_text(json.dumps(summary, indent=1))
    print(json.dumps(summary, indent=1))


if __name__ == "__main__":
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    main()
