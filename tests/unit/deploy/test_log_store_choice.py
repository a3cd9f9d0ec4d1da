"""The log store in every deployment shape: VictoriaLogs by default, Loki as the documented switch.

Loki cannot run here (the project never builds it; no Docker, no cluster), so its shapes are
checked structurally: the collector files each shape loads, the Loki exporter's path, the
images, the mounts. `stack install` also validates config.yaml + logs-loki.yaml with the
built collector (tests/unit/cli/stack/test_install_order.py runs without it).
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from otelbundle.cli.stack import components as comp
from tests.unit.deploy import manifest_checks as checks

ROOT = Path(__file__).resolve().parents[3]
DEPLOY = ROOT / "deploy"
COLLECTOR = ROOT / "otel-collector"


def merged(*files: Path) -> dict[str, Any]:
    """The collector's merge of several --config files: maps merge, lists are replaced."""

    def merge(base: dict[str, Any], top: dict[str, Any]) -> dict[str, Any]:
        out = dict(base)
        for key, value in top.items():
            out[key] = (
                merge(out[key], value)
                if isinstance(value, dict) and isinstance(out.get(key), dict)
                else value
            )
        return out

    result: dict[str, Any] = {}
    for path in files:
        result = merge(result, yaml.safe_load(path.read_text()))
    return result


def test_logs_go_to_victorialogs_by_default_and_to_loki_with_the_overlay() -> None:
    default = merged(COLLECTOR / "config.yaml")
    loki = merged(COLLECTOR / "config.yaml", COLLECTOR / "logs-loki.yaml")
    assert default["service"]["pipelines"]["logs"]["exporters"] == ["otlp_http/victorialogs"]
    assert loki["service"]["pipelines"]["logs"]["exporters"] == ["otlp_http/loki"]
    # Scrubbing and the stack-trace handling are the same for both stores.
    assert (
        loki["service"]["pipelines"]["logs"]["processors"]
        == default["service"]["pipelines"]["logs"]["processors"]
    )
    assert "transform/log-store" in default["service"]["pipelines"]["logs"]["processors"]
    assert "transform/scrub" in default["service"]["pipelines"]["logs"]["processors"]
    assert default["exporters"]["otlp_http/victorialogs"]["endpoint"].endswith(
        ":-http://127.0.0.1:9428/insert/opentelemetry}"
    )
    assert default["exporters"]["otlp_http/victorialogs"]["headers"] == {"VL-Stream-Fields": "service.name"}
    assert loki["exporters"]["otlp_http/loki"]["endpoint"].endswith(":-http://127.0.0.1:3100/otlp}")
    assert loki["exporters"]["otlp_http/loki"]["sending_queue"]["storage"] == "file_storage/queue"
    # The other pipelines do not change.
    for signal in ("traces", "metrics"):
        assert loki["service"]["pipelines"][signal] == default["service"]["pipelines"][signal]


def test_compose_runs_victorialogs_and_the_loki_file_switches() -> None:
    compose = yaml.safe_load((DEPLOY / "compose.yaml").read_text())
    assert "loki" not in compose["services"]
    store = compose["services"]["victorialogs"]
    assert store["image"] == "victoriametrics/victoria-logs:v1.52.2"
    assert "-retentionPeriod=7d" in store["command"]
    assert any(a.startswith("-retention.maxDiskSpaceUsageBytes=") for a in store["command"])
    collector = compose["services"]["otel-collector"]["environment"]
    assert collector["VICTORIALOGS_OTLP_ENDPOINT"] == "http://victorialogs:9428/insert/opentelemetry"
    loki = yaml.safe_load((DEPLOY / "compose.loki.yaml").read_text())
    assert loki["services"]["otel-collector"]["command"] == [
        "--config=/etc/otelcol/config.yaml",
        "--config=/etc/otelcol/logs-loki.yaml",
    ]
    assert (
        "../otel-collector/logs-loki.yaml:/etc/otelcol/logs-loki.yaml:ro"
        in loki["services"]["otel-collector"]["volumes"]
    )
    assert loki["services"]["loki"]["image"] == "grafana/loki:3.7.6"
    assert checks.check_compose_data({"services": {"loki": loki["services"]["loki"]}}, DEPLOY) == []


def test_the_native_flags_match_compose() -> None:
    native = {c.name: c for c in comp.components(ROOT, Path("/data"), env={})}["victorialogs"].args
    compose = yaml.safe_load((DEPLOY / "compose.yaml").read_text())["services"]["victorialogs"]["command"]
    flags = ("-retentionPeriod=", "-retention.maxDiskSpaceUsageBytes=", "-inmemoryDataFlushInterval=")
    assert [a for a in native if a.startswith(flags)] == [a for a in compose if a.startswith(flags)]


def test_kubernetes_runs_victorialogs_and_the_loki_overlay_switches() -> None:
    base = yaml.safe_load((DEPLOY / "k8s" / "kustomization.yaml").read_text())
    assert "victorialogs.yaml" in base["resources"] and "loki.yaml" not in base["resources"]
    overlay_dir = DEPLOY / "k8s-loki"
    overlay = yaml.safe_load((overlay_dir / "kustomization.yaml").read_text())
    assert overlay["resources"] == ["../k8s", "loki.yaml"]
    for generator in overlay["configMapGenerator"]:
        for entry in generator["files"]:
            assert (overlay_dir / entry.split("=", 1)[1]).is_file(), entry
    merged_agent = next(g for g in overlay["configMapGenerator"] if g["name"] == "otelcol-agent-config")
    assert merged_agent["behavior"] == "merge"
    patch = next(p for p in overlay["patches"] if p["target"]["kind"] == "DaemonSet")
    ops = yaml.safe_load(patch["patch"])
    assert {
        "op": "add",
        "path": "/spec/template/spec/containers/0/args/-",
        "value": "--config=/etc/otelcol/logs-loki.yaml",
    } in ops
    documents = [("k8s-loki/loki.yaml", d) for d in checks.load_documents(overlay_dir / "loki.yaml")]
    assert list(checks.check_documents(documents, {"loki-config"})) == []


@pytest.mark.skipif(shutil.which("kubectl") is None, reason="kubectl not installed")
def test_kustomize_renders_both_shapes() -> None:
    """The real kustomize (kubectl's) on the base and on the Loki overlay."""

    def render(folder: str) -> list[dict[str, Any]]:
        done = subprocess.run(
            ["kubectl", "kustomize", "--load-restrictor", "LoadRestrictionsNone", str(DEPLOY / folder)],
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert done.returncode == 0, done.stderr
        return [d for d in yaml.safe_load_all(done.stdout) if d]

    def agent_args(docs: list[dict[str, Any]]) -> list[str]:
        agent = next(d for d in docs if d["kind"] == "DaemonSet" and d["metadata"]["name"] == "otel-agent")
        return list(agent["spec"]["template"]["spec"]["containers"][0]["args"])

    base, loki = render("k8s"), render("k8s-loki")
    names = {(d["kind"], d["metadata"]["name"]) for d in base}
    assert ("StatefulSet", "victorialogs") in names and ("StatefulSet", "loki") not in names
    assert ("StatefulSet", "loki") in {(d["kind"], d["metadata"]["name"]) for d in loki}
    assert "--config=/etc/otelcol/logs-loki.yaml" not in agent_args(base)
    assert agent_args(loki)[-1] == "--config=/etc/otelcol/logs-loki.yaml"
    config = next(
        d
        for d in loki
        if d["kind"] == "ConfigMap" and d["metadata"]["name"].startswith("otelcol-agent-config")
    )
    assert {"config.yaml", "agent.yaml", "k8s-resolver.yaml", "logs-loki.yaml"} <= set(config["data"])

    def jaeger_ui_config(docs: list[dict[str, Any]]) -> str:
        jaeger = next(d for d in docs if d["kind"] == "StatefulSet" and d["metadata"]["name"] == "jaeger")
        env = jaeger["spec"]["template"]["spec"]["containers"][0]["env"]
        return str(next(e["value"] for e in env if e["name"] == "JAEGER_UI_CONFIG"))

    # The trace page's logs link opens VictoriaLogs' UI: with Loki it would open an empty store.
    assert jaeger_ui_config(base) == "/etc/jaeger/ui-config.json"
    assert jaeger_ui_config(loki) == ""
