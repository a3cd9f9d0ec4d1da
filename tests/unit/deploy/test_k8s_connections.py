"""Kubernetes, rendered by the real kustomize: ports agree between configs, containers and
Services, every connection the configs make is allowed, and nothing else is open to the cluster."""

from __future__ import annotations

import copy
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

from tests.unit.deploy import k8s_connections as net

DEPLOY = Path(__file__).resolve().parents[3] / "deploy"
SHAPES = ["k8s", "k8s-loki"]
# Open to any pod on purpose: applications send OTLP to their node's agent, and their in-process
# alert rules post to Alertmanager (docs/alerting.md).
OPEN_TO_THE_CLUSTER = {("otel-agent", 4317), ("otel-agent", 4318), ("alertmanager", 9093)}

pytestmark = pytest.mark.skipif(shutil.which("kubectl") is None, reason="kubectl not installed")


def render(folder: Path) -> list[dict[str, Any]]:
    import yaml

    done = subprocess.run(
        ["kubectl", "kustomize", "--load-restrictor", "LoadRestrictionsNone", str(folder)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    return [d for d in yaml.safe_load_all(done.stdout) if d]


@pytest.mark.parametrize("shape", SHAPES)
def test_every_declared_port_is_listened_on_and_nothing_else_is_open(shape: str) -> None:
    assert net.listening_problems(render(DEPLOY / shape)) == []


@pytest.mark.parametrize("shape", SHAPES)
def test_every_connection_reaches_a_listening_port_through_the_policies(shape: str) -> None:
    documents = render(DEPLOY / shape)
    connections = net.connections(documents)
    # Not vacuous: the agents' three backends, the gateways' Jaeger, Prometheus' scrapes.
    assert {(c.client.split("/")[0], c.service or c.pod) for c in connections} >= {
        ("otel-agent", "otel-gateway-headless"),
        ("otel-agent", "prometheus"),
        ("otel-agent", "loki" if shape == "k8s-loki" else "victorialogs"),
        ("otel-gateway", "jaeger"),
        ("jaeger", "prometheus"),
        ("prometheus", "alertmanager"),
        ("prometheus", "otel-agent"),
        ("prometheus", "otel-gateway"),
    }
    assert net.connection_problems(documents) == []


@pytest.mark.parametrize("shape", SHAPES)
def test_only_the_agents_otlp_and_alertmanager_are_open_to_other_namespaces(shape: str) -> None:
    assert net.open_to_the_cluster(render(DEPLOY / shape)) == OPEN_TO_THE_CLUSTER


def _container(documents: list[dict[str, Any]], workload: str) -> dict[str, Any]:
    doc = next(d for d in documents if d["kind"] != "Service" and d["metadata"]["name"] == workload)
    container: dict[str, Any] = doc["spec"]["template"]["spec"]["containers"][0]
    return container


def test_the_checks_catch_a_wrong_port_a_refused_connection_and_an_open_backend() -> None:
    documents = copy.deepcopy(render(DEPLOY / "k8s"))
    gateway = _container(documents, "otel-gateway")
    for entry in gateway["env"]:
        if entry["name"] == "JAEGER_OTLP_ENDPOINT":
            entry["value"] = "http://jaeger.otelbundle.svc:4318"
    victorialogs = next(
        d for d in documents if d["kind"] == "NetworkPolicy" and d["metadata"]["name"] == "victorialogs"
    )
    victorialogs["spec"]["ingress"][0]["from"].pop()  # Prometheus no longer allowed to scrape it
    jaeger = next(d for d in documents if d["kind"] == "NetworkPolicy" and d["metadata"]["name"] == "jaeger")
    jaeger["spec"]["ingress"][0].pop("from")  # anyone may write traces into Jaeger
    problems = net.connection_problems(documents)
    assert any("env JAEGER_OTLP_ENDPOINT): Service jaeger has no port 4318" in p for p in problems), problems
    assert any("victorialogs:9428" in p and "a NetworkPolicy refuses it" in p for p in problems), problems
    assert ("jaeger", 14318) in net.open_to_the_cluster(documents)


def test_the_checks_catch_a_port_on_loopback_and_an_undeclared_open_port() -> None:
    documents = copy.deepcopy(render(DEPLOY / "k8s"))
    gateway = _container(documents, "otel-gateway")
    gateway["env"] = [e for e in gateway["env"] if e["name"] != "OTELCOL_LISTEN_HOST"]
    jaeger = _container(documents, "jaeger")
    jaeger["ports"] = [p for p in jaeger["ports"] if p["name"] != "metrics"]
    problems = net.listening_problems(documents)
    assert any("otel-gateway/collector: port health (13133) listens on 127.0.0.1 only" in p for p in problems)
    assert any("jaeger/jaeger: listens on 0.0.0.0:14269, which no port declares" in p for p in problems)
