"""What the pipeline tests and the freshness benchmark measure: the stack's own counters
(Prometheus and collector ``/metrics``), the age and the gaps of a series in Prometheus, what
reached Loki, and a bounded stream of checkouts to measure them under.

Standard library only, like :mod:`otelbundle.cli.backends`, which it complements.
"""

from __future__ import annotations

import itertools
import json
import math
import re
import secrets
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from otelbundle.cli.backends import BackendError, get_json
from otelbundle.cli.stack import logsql

PROMETHEUS = "http://127.0.0.1:9090"
LOKI = "http://127.0.0.1:3100"
VICTORIALOGS_URL = "http://127.0.0.1:9428"
COLLECTOR_METRICS = "http://127.0.0.1:8888/metrics"
PROMETHEUS_METRICS = f"{PROMETHEUS}/metrics"

# ---- the text exposition format ------------------------------------------------

_LINE = re.compile(r"^([A-Za-z_:][A-Za-z0-9_:]*)(?:\{(.*)\})?\s+(\S+)(?:\s+\S+)?$")
_LABEL = re.compile(r'([A-Za-z_][A-Za-z0-9_]*)="((?:[^"\\]|\\.)*)"')


@dataclass(frozen=True)
class Sample:
    name: str
    labels: Mapping[str, str]
    value: float


def parse_exposition(text: str) -> list[Sample]:
    """Samples of a Prometheus text exposition (comments skipped, escapes left as sent)."""
    samples: list[Sample] = []
    for line in text.splitlines():
        if not line or line.startswith("#"):
            continue
        match = _LINE.match(line)
        if match is None:
            continue
        name, labels, value = match.groups()
        samples.append(Sample(name, dict(_LABEL.findall(labels or "")), float(value)))
    return samples


def scrape(url: str, timeout: float = 5.0) -> list[Sample]:
    with urllib.request.urlopen(url, timeout=timeout) as response:
        return parse_exposition(response.read().decode("utf-8", "replace"))


def total(
    samples: Iterable[Sample],
    name: str,
    where: Callable[[Mapping[str, str]], bool] = lambda labels: True,
) -> float:
    """Sum of ``name`` over its series that ``where`` accepts. A counter matches with or without
    the ``_total`` suffix: collector and Prometheus versions differ in adding it."""
    names = {name, name + "_total"} if not name.endswith("_total") else {name}
    return sum(s.value for s in samples if s.name in names and where(s.labels))


def names_matching(samples: Iterable[Sample], pattern: str) -> set[str]:
    regex = re.compile(pattern)
    return {s.name for s in samples if regex.search(s.name)}


# ---- the counters that say a write was refused ------------------------------------

# Prometheus 2.42 registers these TSDB counters unlabelled or with a `type` label (float,
# histogram); a vector with no observation yet is absent from /metrics, which reads as 0.
TSDB_REJECTIONS = (
    "prometheus_tsdb_out_of_order_samples_total",
    "prometheus_tsdb_out_of_bound_samples_total",
    "prometheus_tsdb_too_old_samples_total",
    "prometheus_tsdb_exemplar_out_of_order_exemplars_total",
)


# What Prometheus 2.42 logs when it refuses remote-written samples ("Out of order sample from
# remote write", "Error appending remote write").
REFUSAL_LOG = r"(?i)out of (order|bounds)|duplicate sample|level=error.*(write|append)"


def _write_handler(code: Callable[[str], bool]) -> Callable[[Mapping[str, str]], bool]:
    return lambda labels: labels.get("handler") == "/api/v1/write" and code(labels.get("code", ""))


def prometheus_write_counts(samples: Sequence[Sample]) -> dict[str, float]:
    """Remote-write requests by outcome and the TSDB's refused-sample counters."""
    counts = {
        "write_2xx": total(samples, "prometheus_http_requests_total", _write_handler(lambda c: c[:1] == "2")),
        "write_4xx": total(samples, "prometheus_http_requests_total", _write_handler(lambda c: c[:1] == "4")),
        "write_5xx": total(samples, "prometheus_http_requests_total", _write_handler(lambda c: c[:1] == "5")),
        "samples_appended": total(samples, "prometheus_tsdb_head_samples_appended_total"),
    }
    for name in TSDB_REJECTIONS:
        counts[name] = total(samples, name)
    return counts


def collector_metric_counts(
    samples: Sequence[Sample], exporter: str = "prometheus_remote_write"
) -> dict[str, float]:
    """The collector's view of the metrics path: accepted from apps, sent, failed, queued."""

    def ours(labels: Mapping[str, str]) -> bool:
        return labels.get("exporter") == exporter

    return {
        "receiver_accepted_points": total(
            samples,
            "otelcol_receiver_accepted_metric_points",
            lambda labels: labels.get("receiver") == "otlp",
        ),
        "receiver_refused_points": total(samples, "otelcol_receiver_refused_metric_points"),
        "sent_points": total(samples, "otelcol_exporter_sent_metric_points", ours),
        "send_failed_points": total(samples, "otelcol_exporter_send_failed_metric_points", ours),
        "enqueue_failed_points": total(samples, "otelcol_exporter_enqueue_failed_metric_points", ours),
        "queue_size": total(samples, "otelcol_exporter_queue_size", ours),
        "failed_translations": total(samples, "otelcol_exporter_prometheusremotewrite_failed_translations"),
    }


def exporter_counts(samples: Sequence[Sample], exporter: str, item: str) -> dict[str, float]:
    """sent/failed/queued of one exporter; ``item`` is spans, log_records or metric_points."""

    def ours(labels: Mapping[str, str]) -> bool:
        return labels.get("exporter") == exporter

    return {
        "sent": total(samples, f"otelcol_exporter_sent_{item}", ours),
        "send_failed": total(samples, f"otelcol_exporter_send_failed_{item}", ours),
        "enqueue_failed": total(samples, f"otelcol_exporter_enqueue_failed_{item}", ours),
        "queue_size": total(samples, "otelcol_exporter_queue_size", ours),
    }


def delta(after: Mapping[str, float], before: Mapping[str, float]) -> dict[str, float]:
    return {key: after[key] - before.get(key, 0.0) for key in after}


def log_size(path: Any) -> int:
    try:
        with open(path, "rb") as handle:
            return handle.seek(0, 2)
    except OSError:
        return 0


def log_lines_since(path: Any, offset: int, pattern: str) -> list[str]:
    """Lines appended to a component's log after ``offset`` that match ``pattern``."""
    try:
        with open(path, "rb") as handle:
            handle.seek(offset)
            text = handle.read().decode("utf-8", "replace")
    except OSError:
        return []
    regex = re.compile(pattern)
    return [line for line in text.splitlines() if regex.search(line)]


# ---- Prometheus queries ---------------------------------------------------------------


def promql(query: str, at: float | None = None, prometheus: str = PROMETHEUS) -> list[dict[str, Any]]:
    params = {"query": query}
    if at is not None:
        params["time"] = f"{at:.3f}"
    data = get_json(f"{prometheus}/api/v1/query?" + urllib.parse.urlencode(params))
    if data.get("status") != "success":
        raise BackendError(f"PromQL {query!r}: {data}")
    return list(data["data"]["result"])


def series_key(metric: Mapping[str, str], *labels: str) -> str:
    return ",".join(metric.get(label, "") for label in labels)


def ages(selector: str, by: str = "service_instance_id", prometheus: str = PROMETHEUS) -> dict[str, float]:
    """Seconds since the newest sample of each series of ``selector``, by label ``by``; the
    oldest when several series share a value (so a stale one is not hidden by a fresh one)."""
    result: dict[str, float] = {}
    for row in promql(f"time() - timestamp({selector})", prometheus=prometheus):
        key = row["metric"].get(by, "")
        result[key] = max(result.get(key, 0.0), float(row["value"][1]))
    return result


def newest_timestamps(selector: str, by: str = "service_instance_id") -> dict[str, float]:
    """Timestamp (s) of the newest sample of each series of ``selector``, by label ``by``."""
    result: dict[str, float] = {}
    for row in promql(f"timestamp({selector})"):
        key = row["metric"].get(by, "")
        result[key] = min(result.get(key, math.inf), float(row["value"][1]))
    return result


def raw_samples(selector: str, start: float, end: float) -> dict[str, list[float]]:
    """Timestamps of every stored sample of ``selector`` in (start, end], per series (labels as JSON)."""
    seconds = max(1, math.ceil(end - start))
    rows = promql(f"{selector}[{seconds}s]", at=end)
    return {
        json.dumps(row["metric"], sort_keys=True): [float(ts) for ts, _ in row["values"] if float(ts) > start]
        for row in rows
    }


def max_gap(timestamps: Sequence[float], start: float, end: float) -> float:
    """Longest stretch of [start, end] without a sample (edges included)."""
    points = [start, *sorted(t for t in timestamps if start <= t <= end), end]
    return max(b - a for a, b in itertools.pairwise(points))


def percentile(values: Sequence[float], q: float) -> float:
    """Nearest-rank percentile (q in 0..100) of a non-empty sequence."""
    ordered = sorted(values)
    rank = max(1, math.ceil(q / 100 * len(ordered)))
    return ordered[rank - 1]


# ---- Loki -------------------------------------------------------------------------------


def loki_values(query: str, start: float, end: float, loki: str = LOKI, limit: int = 5000) -> list[str]:
    """Lines (after any line_format) of a LogQL query in [start, end]."""
    params = {
        "query": query,
        "start": str(int(start * 1e9)),
        "end": str(int(end * 1e9)),
        "limit": str(limit),
        "direction": "forward",
    }
    data = get_json(f"{loki}/loki/api/v1/query_range?" + urllib.parse.urlencode(params))
    lines: list[str] = []
    for stream in data.get("data", {}).get("result", []):
        lines.extend(value[1] for value in stream.get("values", []))
    return lines


def loki_trace_ids(service: str, contains: str, start: float, end: float) -> set[str]:
    """trace_id of each ``service`` log line containing ``contains`` in [start, end]."""
    query = f'{{service_name="{service}"}} |= "{contains}" | line_format "{{{{.trace_id}}}}"'
    return {line for line in loki_values(query, start, end) if line}


# ---- VictoriaLogs (the stack's default log store) ---------------------------------------


def victorialogs_trace_ids(service: str, contains: str, start: float, end: float) -> set[str]:
    """trace_id of each ``service`` log line containing ``contains`` in [start, end]."""
    query = logsql.build_logsql(None, [service], contains)
    found = logsql.query(
        VICTORIALOGS_URL,
        query,
        start_ns=int(start * 1e9),
        end_ns=int(end * 1e9),
        limit=5000,
        direction="forward",
    )
    return {entry.metadata.get("trace_id", "") for entry in found} - {""}


# ---- traffic ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Sent:
    at: float  # wall-clock seconds when the request was sent
    trace_id: str
    status: int
    url: str


def _send(request: urllib.request.Request, url: str, timeout: float) -> Sent:
    trace_id = secrets.token_hex(16)
    request.add_header("traceparent", f"00-{trace_id}-{secrets.token_hex(8)}-01")
    at = time.time()
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return Sent(at, trace_id, int(response.status), url)
    except urllib.error.HTTPError as exc:
        return Sent(at, trace_id, int(exc.code), url)
    except OSError:
        return Sent(at, trace_id, 0, url)


def checkout_at(url: str, sku: str = "APPLE", timeout: float = 10.0) -> Sent:
    """POST /checkout with a traceparent of our own, so the trace id is known before any backend.
    Each one takes stock: the example's inventory holds 120 APPLE."""
    body = json.dumps({"sku": sku, "qty": 1}).encode()
    request = urllib.request.Request(
        f"{url}/checkout", data=body, method="POST", headers={"Content-Type": "application/json"}
    )
    return _send(request, url, timeout)


def products_at(url: str, timeout: float = 10.0) -> Sent:
    """GET /products (storefront -> inventory, one log line each): traffic that can run for
    minutes without emptying the example's stock."""
    return _send(urllib.request.Request(f"{url}/products"), url, timeout)


@dataclass
class Traffic:
    """``request`` (GET /products by default) at ``rate`` per second over ``urls`` in turn, on a
    daemon thread, until :meth:`stop`, ``max_seconds`` or ``max_requests``: a test that forgets to
    stop it cannot run forever."""

    urls: Sequence[str]
    request: Callable[[str], Sent] = products_at
    rate: float = 2.0
    max_seconds: float = 300.0
    max_requests: int = 1000
    sent: list[Sent] = field(default_factory=list)
    _stop: threading.Event = field(default_factory=threading.Event)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _thread: threading.Thread | None = None

    def start(self) -> Traffic:
        self._thread = threading.Thread(target=self._run, name="traffic", daemon=True)
        self._thread.start()
        return self

    def _run(self) -> None:
        end = time.monotonic() + self.max_seconds
        period = 1.0 / self.rate
        next_at = time.monotonic()
        count = 0
        while not self._stop.is_set() and time.monotonic() < end and count < self.max_requests:
            done = self.request(self.urls[count % len(self.urls)])
            with self._lock:
                self.sent.append(done)
            count += 1
            next_at += period
            self._stop.wait(max(0.0, next_at - time.monotonic()))

    def between(self, start: float, end: float) -> list[Sent]:
        with self._lock:
            return [s for s in self.sent if start <= s.at < end]

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(15)
