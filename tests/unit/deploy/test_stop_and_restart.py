"""What a normal stop and a restart keep, in every deployment: gateways drain what they hold into
Jaeger before they exit (an in-memory queue, which the collector drains on shutdown, and a
tail_sampling that decides instead of dropping), everyone gives the collectors the same time to
do it, and Jaeger keeps its traces on disk behind a volume."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from otelbundle.cli.stack import components as comp
from tests.unit.deploy import manifest_checks as checks

ROOT = Path(__file__).resolve().parents[3]
K8S = ROOT / "deploy" / "k8s"
GRACE_S = 60  # components.COLLECTOR_STOP_GRACE


def load(path: Path) -> dict[str, Any]:
    return dict(yaml.safe_load(path.read_text()))


def workload(file: str, kinds: tuple[str, ...]) -> dict[str, Any]:
    return next(d for d in checks.load_documents(K8S / file) if d["kind"] in kinds)


def seconds(duration: str) -> int:
    assert duration.endswith("s"), duration
    return int(duration[:-1])


def test_a_stopping_gateway_drains_into_jaeger_instead_of_keeping_a_queue_on_disk() -> None:
    gateway = load(ROOT / "otel-collector" / "gateway.yaml")
    exporter = gateway["exporters"]["otlp_http/jaeger"]
    # A file-backed queue keeps its batches on disk at shutdown, for a start that never
    # comes after `stack down` or a scale-in; an in-memory one is drained.
    assert "storage" not in exporter["sending_queue"], exporter
    assert not any(name.startswith("file_storage") for name in gateway.get("extensions", {}))
    # Each batch gets one attempt on shutdown: a hanging Jaeger must not hold the stop.
    assert seconds(exporter["timeout"]) <= 10
    sampling = gateway["processors"]["tail_sampling"]
    assert sampling.get("drop_pending_traces_on_shutdown", False) is False


def test_every_deployment_gives_a_stopping_collector_the_same_time() -> None:
    assert comp.COLLECTOR_STOP_GRACE == GRACE_S
    for file, kinds in (
        ("collector-gateway.yaml", ("Deployment",)),
        ("collector-agent.yaml", ("DaemonSet",)),
    ):
        spec = workload(file, kinds)["spec"]["template"]["spec"]
        assert spec["terminationGracePeriodSeconds"] == GRACE_S, file
    compose = load(ROOT / "deploy" / "compose.yaml")["services"]
    scale_out = load(ROOT / "deploy" / "compose.scale-out.yaml")["services"]
    assert seconds(compose["otel-collector"]["stop_grace_period"]) == GRACE_S
    for name in ("otel-gateway-1", "otel-gateway-2"):
        assert seconds(scale_out[name]["stop_grace_period"]) == GRACE_S, name


def test_jaeger_keeps_its_traces_on_disk_with_a_bounded_retention() -> None:
    config = load(ROOT / "deploy" / "jaeger" / "config.yaml")
    storage = config["extensions"]["jaeger_storage"]["backends"]
    used = config["exporters"]["jaeger_storage_exporter"]["trace_storage"]
    assert config["extensions"]["jaeger_query"]["storage"]["traces"] == used
    badger = storage[used]["badger"]
    assert badger["ephemeral"] is False
    assert all(v.startswith("${env:JAEGER_BADGER_DIR") for v in badger["directories"].values())
    assert badger["ttl"]["spans"] == "${env:JAEGER_RETENTION:-168h}"  # 7 days, as Prometheus and VictoriaLogs

    # Natively: a folder of the stack dir. compose: a named volume. Kubernetes: a claim.
    native = {c.name: c for c in comp.components(ROOT, Path("/stack"), env={})}["jaeger"]
    assert native.env["JAEGER_BADGER_DIR"] == "/stack/jaeger"
    service = load(ROOT / "deploy" / "compose.yaml")["services"]["jaeger"]
    assert f"jaeger-data:{service['environment']['JAEGER_BADGER_DIR']}" in service["volumes"]
    stateful = workload("jaeger.yaml", ("StatefulSet",))
    container = stateful["spec"]["template"]["spec"]["containers"][0]
    env = {e["name"]: e["value"] for e in container["env"]}
    mounts = {m["name"]: m["mountPath"] for m in container["volumeMounts"]}
    claims = [c["metadata"]["name"] for c in stateful["spec"]["volumeClaimTemplates"]]
    assert mounts[claims[0]] == env["JAEGER_BADGER_DIR"]


# file_storage's compaction on_start copies the queue file before it replaces it: the disk holds
# 2.2 x the queued bytes at the peak (measured with the collector: 118.6 MB queued, 140 MB file,
# 265 MB during the copy).
COMPACTION_PEAK = 2.2
GI = 1024**3


def test_every_file_backed_queue_is_bounded_in_bytes_and_fits_the_agents_volume_while_compacting() -> None:
    """Bounded in batches, the log queue outgrew the agent's emptyDir (5000 full batches: 4.4 GB);
    the kubelet evicts a pod over its emptyDir's sizeLimit, losing everything queued."""
    config = load(ROOT / "otel-collector" / "config.yaml")
    loki = load(ROOT / "otel-collector" / "logs-loki.yaml")
    exporters = {**config["exporters"], **loki["exporters"]}
    queued = {
        name: exporter["sending_queue"]
        for name, exporter in exporters.items()
        if exporter.get("sending_queue", {}).get("storage")
    }
    assert set(queued) == {"otlp_http/jaeger", "otlp_http/victorialogs", "otlp_http/loki"}, queued
    for name, queue in queued.items():
        assert queue.get("sizer") == "bytes", name
    agent = workload("collector-agent.yaml", ("DaemonSet",))["spec"]["template"]["spec"]
    volume = next(v for v in agent["volumes"] if v["name"] == "queue")
    size_limit = volume["emptyDir"]["sizeLimit"]
    assert size_limit.endswith("Gi"), size_limit
    # The agent's traces leave through load_balancing: only its log exporter queues on that volume.
    largest = max(int(queue["queue_size"]) for queue in queued.values())
    assert largest * COMPACTION_PEAK <= int(size_limit[:-2]) * GI
