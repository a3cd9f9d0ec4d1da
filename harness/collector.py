"""The project's collector binary running some of the shipped processors, unchanged, for one test:
OTLP/HTTP in on a free port, OTLP/HTTP out to a receiver of the test's."""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import pytest
import yaml

from harness.apps import ROOT, free_port
from otelbundle.cli.stack import components

COLLECTOR = components.CACHE_ROOT / "bin" / "otelcol-bundle-0.159.0" / "otelcol-bundle"


def require_collector() -> None:
    """Skip the test when the binary is not built; fail instead under OTELBUNDLE_REQUIRE_STACK=1."""
    if not COLLECTOR.exists():
        message = f"{COLLECTOR} is not built (make stack)"
        if os.environ.get("OTELBUNDLE_REQUIRE_STACK") == "1":
            pytest.fail(message)
        pytest.skip(message)


def own_network() -> list[str]:
    """A command prefix that runs a program in a network namespace of its own with loopback up,
    for the shipped configs, which listen on the stack's fixed ports (`unshare` execs it: the
    same pid, so a signal sent to it reaches the program); [] when this machine cannot make one
    (not root, no unshare)."""
    unshare = shutil.which("unshare")
    if unshare is None:
        return []
    prefix = [unshare, "--net", "sh", "-c", 'ip link set lo up && exec "$@"', "sh"]
    probe = subprocess.run([*prefix, "true"], capture_output=True, timeout=10)
    return prefix if probe.returncode == 0 else []


@contextlib.contextmanager
def running_collector(
    tmp_path: Path, config: dict[str, Any], stop_within: float = 30.0
) -> Iterator[subprocess.Popen[bytes]]:
    """The binary running ``config`` (its output in tmp_path/collector.log) for the ``with`` block;
    killed if it has not stopped ``stop_within`` seconds after SIGTERM (a collector whose backend
    is unreachable waits out the batch it is retrying: minutes), so no test leaves one behind."""
    path = tmp_path / "collector.yaml"
    path.write_text(yaml.safe_dump(config))
    with (tmp_path / "collector.log").open("wb") as log:
        process = subprocess.Popen(
            [str(COLLECTOR), "--config", str(path)], stdout=log, stderr=subprocess.STDOUT
        )
        try:
            yield process
        finally:
            process.terminate()
            try:
                process.wait(timeout=stop_within)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=30)


@contextlib.contextmanager
def shipped_processors(
    tmp_path: Path, processors: Sequence[str], signals: Sequence[str], export_to: str
) -> Iterator[str]:
    """Run ``processors`` of otel-collector/config.yaml, in the order each signal's pipeline there
    runs them, for ``signals``; yields the base URL to send OTLP/HTTP to. Skips when the binary is
    not built (fails under OTELBUNDLE_REQUIRE_STACK=1)."""
    require_collector()
    shipped = yaml.safe_load((ROOT / "otel-collector" / "config.yaml").read_text())
    port = free_port()
    config = {
        "receivers": {"otlp": {"protocols": {"http": {"endpoint": f"127.0.0.1:{port}"}}}},
        "processors": {name: shipped["processors"][name] for name in processors},
        "exporters": forwarding_exporter(export_to),
        "service": {
            "telemetry": {"metrics": {"level": "none"}},
            "pipelines": {
                signal: {
                    "receivers": ["otlp"],
                    "processors": [
                        p for p in shipped["service"]["pipelines"][signal]["processors"] if p in processors
                    ],
                    "exporters": ["otlp_http"],
                }
                for signal in signals
            },
        },
    }
    with running_collector(tmp_path, config):
        yield f"http://127.0.0.1:{port}"


def forwarding_exporter(export_to: str) -> dict[str, Any]:
    """An ``otlp_http`` exporter that hands everything on to ``export_to`` as it is, once."""
    return {
        "otlp_http": {"endpoint": export_to, "compression": "none", "retry_on_failure": {"enabled": False}}
    }


def post_when_listening(url: str, data: bytes, content_type: str, timeout: float = 60.0) -> int:
    """POST ``data``, retrying while nothing listens yet (a collector starting); the HTTP status."""
    request = urllib.request.Request(url, data=data, headers={"Content-Type": content_type})
    deadline = time.monotonic() + timeout
    while True:
        try:
            with urllib.request.urlopen(request, timeout=timeout) as response:
                return int(response.status)
        except urllib.error.HTTPError as exc:
            return exc.code
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.2)
