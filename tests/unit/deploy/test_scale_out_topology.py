"""The scale-out topology is one set of files (otel-collector/{config,agent,gateway}.yaml) that the
native runner, compose and Kubernetes all load, and it counts span metrics once, before sampling."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from otelbundle.cli.stack import components as comp
from tests.unit.deploy import manifest_checks as checks

ROOT = Path(__file__).resolve().parents[3]
COLLECTOR = ROOT / "otel-collector"
K8S = ROOT / "deploy" / "k8s"


def load(path: Path) -> dict[str, Any]:
    return dict(yaml.safe_load(path.read_text()))


def merged(*paths: Path) -> dict[str, Any]:
    """The collector's merge of several --config files: maps merge, everything else is replaced."""

    def merge(base: Any, top: Any) -> Any:
        if isinstance(base, dict) and isinstance(top, dict):
            return {k: merge(base.get(k), v) if k in base else v for k, v in top.items()} | {
                k: v for k, v in base.items() if k not in top
            }
        return top

    result: dict[str, Any] = {}
    for path in paths:
        result = merge(result, load(path))
    return result


def pipelines(config: dict[str, Any]) -> dict[str, dict[str, list[str]]]:
    return dict(config["service"]["pipelines"])


def span_metrics_problems(agent: dict[str, Any], gateway: dict[str, Any]) -> list[str]:
    """Where the design's counting rule is broken: span_metrics must run in the agent's traces
    pipeline (every span, before sampling) and nowhere downstream of the gateways' routing."""
    problems = []
    agent_traces = [p for name, p in pipelines(agent).items() if name.split("/")[0] == "traces"]
    if not any("span_metrics" in p["exporters"] for p in agent_traces):
        problems.append("agent: no traces pipeline feeds span_metrics")
    for name, pipeline in pipelines(agent).items():
        if "tail_sampling" in pipeline.get("processors", []):
            problems.append(f"agent: pipeline {name} samples before span_metrics counts")
    for name, pipeline in pipelines(gateway).items():
        if "span_metrics" in pipeline.get("exporters", []) + pipeline.get("receivers", []):
            problems.append(f"gateway: pipeline {name} counts span metrics of only the traces routed to it")
    return problems


def test_span_metrics_are_counted_in_the_agent_before_sampling() -> None:
    agent = merged(COLLECTOR / "config.yaml", COLLECTOR / "agent.yaml")
    gateway = load(COLLECTOR / "gateway.yaml")
    assert span_metrics_problems(agent, gateway) == []
    traces = pipelines(agent)["traces"]
    assert traces["exporters"] == ["load_balancing/gateways", "span_metrics"]
    assert agent["exporters"]["load_balancing/gateways"]["routing_key"] == "traceID"
    assert "tail_sampling" in pipelines(gateway)["traces"]["processors"]


def test_the_check_catches_span_metrics_in_the_gateways() -> None:
    """The shipped default before #11: span_metrics in the traceID-routed gateways."""
    agent = merged(COLLECTOR / "config.yaml", COLLECTOR / "agent.yaml")
    agent["service"]["pipelines"]["traces"]["exporters"] = ["load_balancing/gateways"]
    gateway = load(COLLECTOR / "gateway.yaml")
    gateway["service"]["pipelines"]["traces"]["exporters"].append("span_metrics")
    problems = span_metrics_problems(agent, gateway)
    assert any("agent: no traces pipeline" in p for p in problems), problems
    assert any("gateway: pipeline traces counts" in p for p in problems), problems


def test_metrics_and_logs_reach_the_backends_once() -> None:
    """The agent writes metrics and logs itself; gateways carry traces only, so nothing is sent twice."""
    agent = pipelines(merged(COLLECTOR / "config.yaml", COLLECTOR / "agent.yaml"))
    writers = {name: p["exporters"] for name, p in agent.items() if name.split("/")[0] in ("metrics", "logs")}
    assert all("load_balancing/gateways" not in e for e in writers.values()), writers
    assert sorted(agent["metrics"]["receivers"]) == ["otlp"]  # span metrics have their own pipeline
    assert agent["metrics/span_metrics"]["receivers"] == ["span_metrics"]
    assert set(pipelines(load(COLLECTOR / "gateway.yaml"))) == {"traces"}


def test_kubernetes_runs_the_same_files() -> None:
    kustomization = load(K8S / "kustomization.yaml")
    generated = {
        g["name"]: dict(f.split("=", 1) for f in g["files"]) for g in kustomization["configMapGenerator"]
    }
    assert generated["otelcol-agent-config"] == {
        "config.yaml": "../../otel-collector/config.yaml",
        "agent.yaml": "../../otel-collector/agent.yaml",
        "k8s-resolver.yaml": "collector-agent-config.yaml",
    }
    assert generated["otelcol-gateway-config"] == {"gateway.yaml": "../../otel-collector/gateway.yaml"}
    for file, config_map in (
        ("collector-agent.yaml", "otelcol-agent-config"),
        ("collector-gateway.yaml", "otelcol-gateway-config"),
    ):
        workload = next(
            d for d in checks.load_documents(K8S / file) if d["kind"] in ("DaemonSet", "Deployment")
        )
        args = workload["spec"]["template"]["spec"]["containers"][0]["args"]
        mounted = {f"--config=/etc/otelcol/{key}" for key in generated[config_map]}
        assert set(args) == mounted, (file, args, mounted)
    overlay = load(K8S / "collector-agent-config.yaml")
    resolver = overlay["exporters"]["load_balancing/gateways"]["resolver"]
    assert resolver["static"] is None and resolver["k8s"]["service"].startswith("otel-gateway-headless.")


def test_compose_scale_out_runs_the_same_files() -> None:
    base = load(ROOT / "deploy" / "compose.yaml")
    top = load(ROOT / "deploy" / "compose.scale-out.yaml")
    agent = top["services"]["otel-collector"]
    assert agent["command"] == ["--config=/etc/otelcol/config.yaml", "--config=/etc/otelcol/agent.yaml"]
    endpoints = yaml.safe_load(agent["environment"]["OTELCOL_GATEWAY_ENDPOINTS"])
    assert [e.split(":")[0] for e in endpoints] == ["otel-gateway-1", "otel-gateway-2"]
    for name in ("otel-gateway-1", "otel-gateway-2"):
        assert top["services"][name]["command"] == ["--config=/etc/otelcol/gateway.yaml"]
    # The override applied to compose.yaml passes the same checks as compose.yaml itself.
    services = {**base["services"]}
    for name, service in top["services"].items():
        services[name] = {**services.get(name, {}), **service}
    assert checks.check_compose_data({**base, "services": services}, ROOT / "deploy") == []


@pytest.mark.parametrize(
    "files",
    [
        ("otel-collector/config.yaml", "otel-collector/agent.yaml"),
        ("otel-collector/config.yaml", "otel-collector/agent.yaml", "deploy/k8s/collector-agent-config.yaml"),
        ("otel-collector/gateway.yaml",),
    ],
)
def test_our_collector_build_accepts_each_shape(files: tuple[str, ...]) -> None:
    binary = next(
        (c.locate(os.environ) for c in comp.components(ROOT, ROOT) if c.name == "otelcol-bundle"), None
    )
    if binary is None:
        pytest.skip("otelcol-bundle not built (make stack)")
    result = subprocess.run(
        [binary, "validate", *(f"--config={ROOT / f}" for f in files)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr[-2000:]
