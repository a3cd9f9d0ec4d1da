"""Docker Compose (no engine here): each published port, each service URL in an environment, each
Prometheus target and each gateway endpoint names a port that service listens on, on its container
address, as read from the program's own mounted config."""

from __future__ import annotations

import copy
import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.unit.deploy import k8s_connections as net

DEPLOY = Path(__file__).resolve().parents[3] / "deploy"
SHAPES = [
    ("compose.yaml",),
    ("compose.yaml", "compose.scale-out.yaml"),
    ("compose.yaml", "compose.loki.yaml"),
]
COMPOSE_VARIABLE = re.compile(r"\$\{([A-Z_][A-Z0-9_]*)(?::[-?]([^}]*))?\}")
COMPOSE_URL = re.compile(r"(?:https?://)?([a-z0-9-]+):(\d+)")


def merged(*files: str) -> dict[str, Any]:
    """Compose's merge of -f files: maps merge, lists of mounts and ports are appended, command replaced."""
    result: dict[str, Any] = {"services": {}}
    for file in files:
        for name, service in yaml.safe_load((DEPLOY / file).read_text())["services"].items():
            base = result["services"].setdefault(name, {})
            for key, value in service.items():
                if isinstance(value, dict) and isinstance(base.get(key), dict):
                    base[key] = {**base[key], **value}
                elif key in ("volumes", "ports") and key in base:
                    base[key] = [*base[key], *value]
                else:
                    base[key] = value
    return result


def container(name: str, service: dict[str, Any]) -> net.Container:
    files = {}
    for volume in service.get("volumes", []):
        source, target = str(volume).split(":")[:2]
        if source.startswith(".") and (DEPLOY / source).is_file():
            files[target] = (DEPLOY / source).read_text()
    env = {
        k: COMPOSE_VARIABLE.sub(lambda m: m[2] or "", str(v))
        for k, v in (service.get("environment") or {}).items()
    }
    spec = {"name": name, "image": service.get("image", ""), "args": service.get("command", [])}
    return net.Container(name, {}, spec, files, env)


def problems(compose: dict[str, Any]) -> list[str]:
    found = []
    services = {n: s for n, s in compose["services"].items() if n != "volumes-init"}
    bound = {
        name: net.listeners(container(name, s))
        for name, s in services.items()
        if not s["image"].startswith("grafana/grafana:")
    }
    bound["grafana"] = {3000: ""}

    def check(what: str, service: str, port: int) -> None:
        if service not in bound:
            found.append(f"{what}: no service {service}")
        elif bound[service].get(port) not in net.ANY_HOST:
            found.append(f"{what}: {service} does not listen on {port} on its container address")

    for name, service in services.items():
        for published in service.get("ports", []):
            check(f"{name}: port {published}", name, int(str(published).rsplit(":", 1)[1]))
        for key, value in (service.get("environment") or {}).items():
            for host, port in COMPOSE_URL.findall(str(value)):
                if host in services:
                    check(f"{name}: {key}", host, int(port))
        for path, text in container(name, service).files.items():
            if "/targets/" in path:
                for group in yaml.safe_load(text) or []:
                    for target in group["targets"]:
                        host, port = target.rsplit(":", 1)
                        if host in services or "store" not in group.get("labels", {}):
                            check(f"{name}: {path}", host, int(port))
    return found


@pytest.mark.parametrize("files", SHAPES, ids=lambda f: "+".join(f))
def test_every_compose_address_names_a_listening_port(files: tuple[str, ...]) -> None:
    assert problems(merged(*files)) == []


def test_the_check_catches_a_wrong_port_and_a_loopback_listener() -> None:
    compose = copy.deepcopy(merged("compose.yaml", "compose.scale-out.yaml"))
    compose["services"]["otel-collector"]["environment"]["JAEGER_OTLP_ENDPOINT"] = "http://jaeger:4318"
    del compose["services"]["otel-gateway-2"]["environment"]["OTELCOL_LISTEN_HOST"]
    found = problems(compose)
    assert (
        "otel-collector: JAEGER_OTLP_ENDPOINT: jaeger does not listen on 4318 on its container address"
        in found
    )
    assert any(p.startswith("otel-collector: OTELCOL_GATEWAY_ENDPOINTS: otel-gateway-2") for p in found), (
        found
    )
