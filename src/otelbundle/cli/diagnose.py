"""Why a signal did not arrive: the collector's own exporter counters and the backend's health.

The demo used to print only "(no data within 90 s)". The collector already
knows more - each exporter counts what it failed to send and what waits in
its queue - and the backend either answers its readiness probe or not. This
reads both, so the person sees a cause next to the absence.
"""

from __future__ import annotations

import re
import urllib.error
import urllib.request
from collections.abc import Mapping
from dataclasses import dataclass

from otelbundle.cli.stack.logstore import DEFAULT_LOG_STORE, default_store

COLLECTOR_METRICS = "http://127.0.0.1:8888/metrics"

_SAMPLE = re.compile(r"^(?P<name>[a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(?P<labels>[^}]*)\})?\s+(?P<value>\S+)")
_LABEL = re.compile(r'(\w+)="((?:[^"\\]|\\.)*)"')


@dataclass(frozen=True)
class SignalPath:
    """One signal's way from the collector to its backend."""

    exporter: str
    item: str  # the unit the collector counts: spans, metric_points, log_records
    backend: str
    ready_url: str


PATHS: Mapping[str, SignalPath] = {
    "traces": SignalPath("otlp_http/jaeger", "spans", "Jaeger", "http://127.0.0.1:16686/"),
    "metrics": SignalPath(
        "prometheus_remote_write", "metric_points", "Prometheus", "http://127.0.0.1:9090/-/ready"
    ),
    "logs": SignalPath(
        "otlp_http/victorialogs", "log_records", "VictoriaLogs", "http://127.0.0.1:9428/health"
    ),
    "alerts": SignalPath("", "", "Alertmanager", "http://127.0.0.1:9093/-/ready"),
}


# The logs path of each log store (otel-collector/config.yaml, logs-loki.yaml).
LOG_PATHS: Mapping[str, SignalPath] = {
    DEFAULT_LOG_STORE: PATHS["logs"],
    "loki": SignalPath("otlp_http/loki", "log_records", "Loki", "http://127.0.0.1:3100/ready"),
}


def exporter_counters(text: str) -> dict[tuple[str, str], float]:
    """Sum the collector's ``otelcol_exporter_*`` samples by (metric name, exporter)."""
    totals: dict[tuple[str, str], float] = {}
    for line in text.splitlines():
        match = _SAMPLE.match(line)
        if not match or not match["name"].startswith("otelcol_exporter_"):
            continue
        labels = dict(_LABEL.findall(match["labels"] or ""))
        name = match["name"].removesuffix("_total")
        key = (name, labels.get("exporter", ""))
        try:
            totals[key] = totals.get(key, 0.0) + float(match["value"])
        except ValueError:
            continue
    return totals


def _get(url: str, timeout: float = 3.0) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:
            return int(response.status), response.read().decode("utf-8", "replace")
    except urllib.error.HTTPError as exc:
        return int(exc.code), ""
    except OSError:
        return 0, ""


def explain(
    signal: str, collector_metrics: str = COLLECTOR_METRICS, paths: Mapping[str, SignalPath] | None = None
) -> str:
    """One line of likely causes for ``signal`` (traces, metrics, logs, alerts) not arriving.

    By default the logs path is the one of the store the stack runs (VictoriaLogs or Loki)."""
    if paths is None:
        paths = {**PATHS, "logs": LOG_PATHS[default_store()]}
    path = paths[signal]
    causes: list[str] = []
    status, _ = _get(path.ready_url)
    if status != 200:
        causes.append(f"{path.backend} is not ready ({path.ready_url} answered {status or 'nothing'})")
    if path.exporter:
        status, text = _get(collector_metrics)
        if status != 200:
            causes.append(f"the collector's own metrics ({collector_metrics}) do not answer: is it running?")
        else:
            counters = exporter_counters(text)
            sent = counters.get((f"otelcol_exporter_sent_{path.item}", path.exporter), 0.0)
            failed = counters.get((f"otelcol_exporter_send_failed_{path.item}", path.exporter), 0.0)
            queued = counters.get(("otelcol_exporter_queue_size", path.exporter), 0.0)
            if failed:
                causes.append(f"the collector failed to send {failed:.0f} {path.item} to {path.backend}")
            if queued:
                causes.append(f"{queued:.0f} batches wait in the collector's queue for {path.backend}")
            if not sent and not failed:
                causes.append(
                    f"the collector has sent no {path.item} to {path.backend} yet (did the apps export?)"
                )
    if not causes:
        return (
            f"{path.backend} is ready and the collector reports no failure: the data may still be on its way"
        )
    hint = "`otelbundle stack logs otelcol-bundle`" if path.exporter else "the services' logs"
    return "; ".join(causes) + f" (see {hint})"
