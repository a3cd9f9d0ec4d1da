"""A real Prometheus that takes remote writes, as `otelbundle stack up` starts it, for tests and
benchmarks of the metrics path; and span batches shaped like a Python service's, to load it."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import time
import urllib.parse
import urllib.request
import uuid
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from harness.apps import free_port
from otelbundle.cli.stack import components

_CANDIDATES = sorted((components.CACHE_ROOT / "bin").glob("prometheus-*/prometheus"), reverse=True)


class NoPrometheus(RuntimeError):
    """Neither the stack's cache nor the PATH has a Prometheus binary."""


def prometheus_binary() -> str:
    found = next((str(b) for b in _CANDIDATES if b.is_file()), None) or shutil.which("prometheus")
    if found is None:
        raise NoPrometheus(
            "no Prometheus binary (run `otelbundle stack install prometheus` or apt-get install prometheus)"
        )
    return found


@dataclass(frozen=True)
class RunningPrometheus:
    url: str
    pid: int

    def query(self, promql: str) -> list[dict[str, Any]]:
        query = urllib.parse.urlencode({"query": promql})
        with urllib.request.urlopen(f"{self.url}/api/v1/query?{query}", timeout=30) as response:
            result: list[dict[str, Any]] = json.load(response)["data"]["result"]
        return result

    def scalar(self, promql: str) -> float:
        """The first sample's value; 0 when the query returns nothing."""
        result = self.query(promql)
        return float(result[0]["value"][1]) if result else 0.0


def wait_for(condition: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(1)


def _ready(url: str) -> bool:
    try:
        with urllib.request.urlopen(f"{url}/-/ready", timeout=5) as response:
            return int(response.status) == 200
    except OSError:
        return False


@contextmanager
def running_prometheus(folder: Path) -> Iterator[RunningPrometheus]:
    """Prometheus on a free loopback port with the remote-write receiver on, its data and log in
    ``folder``, for the ``with`` block."""
    port = free_port()
    config = folder / "prometheus.yml"
    config.write_text("global: {scrape_interval: 15s}\n")
    with (folder / "prometheus.log").open("wb") as log:
        process = subprocess.Popen(
            [
                prometheus_binary(),
                f"--config.file={config}",
                f"--storage.tsdb.path={folder / 'prometheus-data'}",
                f"--web.listen-address=127.0.0.1:{port}",
                "--web.enable-remote-write-receiver",
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        url = f"http://127.0.0.1:{port}"
        try:
            wait_for(lambda: _ready(url), 60, "Prometheus to start")
            yield RunningPrometheus(url, process.pid)
        finally:
            process.terminate()
            process.wait(timeout=30)


def post_server_spans(
    port: int, service: str, instance: str, names: list[str], resource: Mapping[str, str]
) -> None:
    """One OTLP/JSON request of server spans named ``names``, ended now, from the process
    ``instance`` of ``service`` with the other ``resource`` attributes (each becomes a label of
    every span-metric series, so they are part of the load); retried while nothing listens yet
    (a collector starting), for up to 60 s."""
    now = time.time_ns()
    spans = [
        {
            "traceId": uuid.uuid4().hex,
            "spanId": uuid.uuid4().hex[:16],
            "name": name,
            "kind": 2,
            "startTimeUnixNano": str(now - 3_000_000),
            "endTimeUnixNano": str(now),
        }
        for name in names
    ]
    labels = {**resource, "service.name": service, "service.instance.id": instance}
    attributes = [{"key": k, "value": {"stringValue": v}} for k, v in labels.items()]
    body = {"resourceSpans": [{"resource": {"attributes": attributes}, "scopeSpans": [{"spans": spans}]}]}
    request = urllib.request.Request(
        f"http://127.0.0.1:{port}/v1/traces",
        data=json.dumps(body).encode(),
        headers={"Content-Type": "application/json"},
    )
    deadline = time.monotonic() + 60
    while True:
        try:
            with urllib.request.urlopen(request, timeout=30):
                return
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.2)


def process_cpu_seconds(pid: int) -> float:
    """User + system CPU of a running process so far, from /proc."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
