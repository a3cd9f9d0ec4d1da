"""What the collector tests and benchmarks share: request bodies of a real service, the shipped
config on free ports, and the collector's own counters."""

from __future__ import annotations

import re
import time
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any

import yaml
from opentelemetry.proto.collector.logs.v1 import logs_service_pb2
from opentelemetry.proto.common.v1 import common_pb2
from opentelemetry.proto.logs.v1 import logs_pb2
from opentelemetry.proto.resource.v1 import resource_pb2

from harness.apps import ROOT, free_port
from harness.collector import post_when_listening

PROTOBUF = "application/x-protobuf"
MIB = 2**20


def text(key: str, value: str | int) -> common_pb2.KeyValue:
    """An attribute as the SDK encodes it: ints as ints, the rest as strings."""
    if isinstance(value, int):
        return common_pb2.KeyValue(key=key, value=common_pb2.AnyValue(int_value=value))
    return common_pb2.KeyValue(key=key, value=common_pb2.AnyValue(string_value=value))


# The resource of a Python service under opentelemetry-instrument: every attribute becomes a label
# of every point (resource_to_telemetry_conversion), which is most of a point's size.
RESOURCE = resource_pb2.Resource(
    attributes=[
        text("service.name", "storefront"),
        text("service.instance.id", "6f1d2c1e-8a7b-4c1e-9d3f-2b5a7c9e1f00"),
        text("service.version", "1.4.2"),
        text("deployment.environment.name", "production"),
        text("host.name", "storefront-7d9f8b6c5d-x2k4q"),
        text("host.arch", "amd64"),
        text("os.type", "linux"),
        text("os.description", "Linux 6.1.0-18-amd64"),
        text("process.pid", "4242"),
        text("process.executable.name", "python3.11"),
        text("process.executable.path", "/usr/local/bin/python3.11"),
        text("process.command", "/app/.venv/bin/gunicorn"),
        text("process.command_args", '["gunicorn", "-w", "4", "storefront.wsgi"]'),
        text("process.runtime.name", "cpython"),
        text("process.runtime.version", "3.11.9"),
        text("process.runtime.description", "3.11.9 (main, Apr  2 2024, 08:25:04) [GCC 12.2.0]"),
        text("process.owner", "app"),
        text("telemetry.sdk.name", "opentelemetry"),
        text("telemetry.sdk.language", "python"),
        text("telemetry.sdk.version", "1.39.1"),
        text("telemetry.distro.name", "otelbundle"),
    ]
)


def log_request(i: int) -> bytes:
    record = logs_pb2.LogRecord(
        time_unix_nano=time.time_ns(),
        severity_text="INFO",
        body=common_pb2.AnyValue(string_value=f"after-the-flood-{i}"),
    )
    body = logs_service_pb2.ExportLogsServiceRequest(
        resource_logs=[
            logs_pb2.ResourceLogs(resource=RESOURCE, scope_logs=[logs_pb2.ScopeLogs(log_records=[record])])
        ]
    )
    return body.SerializeToString()


def shipped_config(tmp_path: Path, otlp_port: int, metrics_port: int) -> dict[str, Any]:
    """otel-collector/config.yaml as shipped, its listeners on free ports, its queue folder in tmp."""
    config: dict[str, Any] = yaml.safe_load((ROOT / "otel-collector" / "config.yaml").read_text())
    extensions = config["extensions"]
    extensions["health_check"]["endpoint"] = f"127.0.0.1:{free_port()}"
    extensions["zpages"]["endpoint"] = f"127.0.0.1:{free_port()}"
    extensions["pprof"]["endpoint"] = f"127.0.0.1:{free_port()}"
    storage = extensions["file_storage/queue"]
    storage["directory"] = storage["compaction"]["directory"] = str(tmp_path / "queue")
    protocols = config["receivers"]["otlp"]["protocols"]
    protocols["grpc"]["endpoint"] = f"127.0.0.1:{free_port()}"
    protocols["http"]["endpoint"] = f"127.0.0.1:{otlp_port}"
    [reader] = config["service"]["telemetry"]["metrics"]["readers"]
    reader["pull"]["exporter"]["prometheus"].update(host="127.0.0.1", port=metrics_port)
    return config


_SAMPLE = re.compile(r"^(?P<name>[a-z_]+)(?:\{(?P<labels>[^}]*)\})? (?P<value>\S+)$", re.M)


def own_metric(port: int, name: str, **labels: str) -> float:
    """The sum of the collector's own ``name`` samples with ``labels``, from its /metrics."""
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=30) as response:
        text = response.read().decode()
    total = 0.0
    for sample in _SAMPLE.finditer(text):
        if sample["name"] == name and all(
            f'{k}="{v}"' in (sample["labels"] or "") for k, v in labels.items()
        ):
            total += float(sample["value"])
    return total


def env_default(value: str) -> int:
    """The default of a ``${env:NAME:-default}`` setting."""
    match = re.fullmatch(r"\$\{env:\w+:-(\d+)\}", value)
    assert match, value
    return int(match[1])


def flood_until_dropping(
    url: str,
    body_of: Callable[[int], bytes],
    dropped: Callable[[], float],
    max_requests: int,
    more: int,
    every: int,
) -> tuple[list[int], int | None]:
    """POST ``body_of(n)`` to ``url`` until the queue under test is seen dropping (``dropped()``,
    checked every ``every`` requests), then ``more`` requests; stops early at a refusal (the
    memory limiter refused before the queue gave up). The statuses, and the request after
    which drops were first seen (None: never)."""
    statuses: list[int] = []
    first_drop: int | None = None
    for request in range(max_requests):
        statuses.append(post_when_listening(url, body_of(request), PROTOBUF))
        if statuses[-1] != 200:
            break
        if first_drop is None and request % every == 0 and dropped() > 0:
            first_drop = request
        if first_drop is not None and request >= first_drop + more:
            break
    return statuses, first_drop


def soft_limit_bytes(config: dict[str, Any], limit_mib: float) -> float:
    """Where memory_limiter refuses everything with a fixed ``limit_mib`` (the files, the native
    stack, compose): the limit minus its spike allowance, a fifth of the limit when
    ``spike_limit_mib`` is not set (memorylimiter v0.159.0, newFixedMemUsageChecker; the
    ``spike_limit_percentage`` is not read then)."""
    assert "spike_limit_mib" not in config["processors"]["memory_limiter"]
    return limit_mib * MIB * 4 / 5


def container_soft_limit_bytes(config: dict[str, Any], container_mib: float) -> float:
    """Where memory_limiter refuses everything with ``limit_mib`` 0 (Kubernetes): both
    percentages are of the container's memory limit (memorylimiter v0.159.0,
    newPercentageMemUsageChecker), so 80 % - 20 % = 60 % of the container, not 80 % of 80 %."""
    limiter = config["processors"]["memory_limiter"]
    percent = int(limiter["limit_percentage"]) - int(limiter["spike_limit_percentage"])
    return container_mib * MIB * percent / 100


def kubernetes_container(manifest: str, kind: str) -> tuple[dict[str, Any], dict[str, Any], int]:
    """The collector container of deploy/k8s/``manifest``'s ``kind`` workload: its workload, its
    environment (name: value) and its memory limit in MiB."""
    documents = yaml.safe_load_all((ROOT / "deploy" / "k8s" / manifest).read_text())
    [workload] = [d for d in documents if d and d["kind"] == kind]
    [container] = workload["spec"]["template"]["spec"]["containers"]
    env = {e["name"]: e.get("value") for e in container["env"]}
    memory = str(container["resources"]["limits"]["memory"])
    memory_mib = (
        int(memory.removesuffix("Gi")) * 1024 if memory.endswith("Gi") else int(memory.removesuffix("Mi"))
    )
    return workload, env, memory_mib
