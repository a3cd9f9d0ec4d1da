"""Every collector process has a bounded memory limit: a fixed heap where there is no container
limit (the native stack, compose), 80 % of the container's limit in Kubernetes.

memory_limiter's ``limit_percentage`` is of the cgroup's limit, and of the whole machine's memory
when there is none: the native stack and compose (no ``mem_limit``) let the collector grow to
80 % of the machine (19 GiB of 24) during a backend outage before it refused anything.
``limit_mib`` wins over the percentage when it is not 0 (memorylimiter v0.159.0,
getMemUsageChecker). The real binary's start log line is checked in
tests/integration/test_collector_memory_limit.py.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from otelbundle.cli.stack import components as comp
from tests.unit.deploy import manifest_checks as checks

ROOT = Path(__file__).resolve().parents[3]
COLLECTOR = ROOT / "otel-collector"
DEPLOY = ROOT / "deploy"
VARIABLE = comp.MEMORY_LIMIT_VARIABLE
# Each collector config and the default its memory_limiter falls back to.
CONFIGS = ("config.yaml", "gateway.yaml")
_ENV_WITH_DEFAULT = re.compile(r"\$\{env:(?P<name>[A-Z0-9_]+):-(?P<default>[^}]*)\}\Z")
_COMPOSE_WITH_DEFAULT = re.compile(r"\$\{(?P<name>[A-Z0-9_]+):-(?P<default>[^}]*)\}\Z")


def load(path: Path) -> dict[str, Any]:
    return dict(yaml.safe_load(path.read_text()))


def limiter(file: str) -> dict[str, Any]:
    return dict(load(COLLECTOR / file)["processors"]["memory_limiter"])


@pytest.mark.parametrize("file", CONFIGS)
def test_each_collector_config_takes_a_fixed_limit_from_the_variable_with_the_runners_default(
    file: str,
) -> None:
    settings = limiter(file)
    match = _ENV_WITH_DEFAULT.match(str(settings["limit_mib"]))
    assert match, f"{file}: limit_mib is {settings['limit_mib']!r}, not ${{env:{VARIABLE}:-N}}"
    assert match["name"] == VARIABLE, file
    assert match["default"] == comp.DEFAULT_MEMORY_LIMIT_MIB, file
    # 0 (Kubernetes) falls back to the percentage, which must stay set and valid.
    assert 0 < settings["spike_limit_percentage"] < settings["limit_percentage"] <= 100, file
    assert "spike_limit_mib" not in settings, f"{file}: 20 % of limit_mib by default; 0 would be invalid"


def test_the_native_stack_gives_every_collector_process_the_bounded_default(tmp_path: Path) -> None:
    stack = comp.components(ROOT, tmp_path, env={}, gateways=2)
    collectors = [c for c in stack if c.install_name == "otelcol-bundle"]
    assert [c.name for c in collectors] == ["otelcol-gateway-1", "otelcol-gateway-2", "otelcol-bundle"]
    for component in collectors:
        assert component.env[VARIABLE] == comp.DEFAULT_MEMORY_LIMIT_MIB, component.name
    assert int(comp.DEFAULT_MEMORY_LIMIT_MIB) > 0


@pytest.mark.parametrize(
    ("given", "passed"), [("2048", "2048"), ("0", "0"), ("", comp.DEFAULT_MEMORY_LIMIT_MIB)]
)
def test_the_users_value_reaches_the_collector_and_an_empty_one_counts_as_unset(
    tmp_path: Path, given: str, passed: str
) -> None:
    # An empty value would reach the collector as no limit_mib: a percentage of the machine again.
    stack = comp.components(ROOT, tmp_path, env={VARIABLE: given}, gateways=1)
    for component in stack:
        if component.install_name == "otelcol-bundle":
            assert component.env[VARIABLE] == passed, component.name


def _compose_default(service: dict[str, Any]) -> str:
    value = str(service["environment"][VARIABLE])
    match = _COMPOSE_WITH_DEFAULT.match(value)
    assert match and match["name"] == VARIABLE, value
    return match["default"]


def test_compose_bounds_every_collector_container_as_the_native_stack_does() -> None:
    """No compose service has a container memory limit, so each collector gets the fixed one."""
    services = {
        **{f"compose.yaml {k}": v for k, v in load(DEPLOY / "compose.yaml")["services"].items()},
        **{f"scale-out {k}": v for k, v in load(DEPLOY / "compose.scale-out.yaml")["services"].items()},
    }
    collectors = {
        name: service
        for name, service in services.items()
        if "opentelemetry-collector" in str(service.get("image", ""))
    }
    assert set(collectors) == {
        "compose.yaml otel-collector",
        "scale-out otel-gateway-1",
        "scale-out otel-gateway-2",
    }
    for name, service in collectors.items():
        assert "mem_limit" not in service and "deploy" not in service, name
        assert _compose_default(service) == comp.DEFAULT_MEMORY_LIMIT_MIB, name


def test_kubernetes_keeps_the_percentage_of_each_collector_containers_limit() -> None:
    found = []
    for path in sorted((DEPLOY / "k8s").glob("collector-*.yaml")):
        for document in checks.load_documents(path):
            if document.get("kind") not in checks.WORKLOADS:  # collector-agent-config.yaml: a config
                continue
            for container in document["spec"]["template"]["spec"]["containers"]:
                env = {e["name"]: e.get("value") for e in container.get("env", [])}
                assert env.get(VARIABLE) == "0", f"{path.name}: {VARIABLE}={env.get(VARIABLE)!r}"
                # The percentage is of this limit; without one it would be of the node's memory.
                assert container["resources"]["limits"]["memory"], path.name
                found.append(document["metadata"]["name"])
    assert sorted(found) == ["otel-agent", "otel-gateway"]


@pytest.mark.parametrize(
    ("env", "queue"),
    [
        ({}, "384"),  # config.yaml's own default, at the default 1 GiB
        ({VARIABLE: "256"}, "96"),
        ({VARIABLE: "4096"}, "1536"),
        ({VARIABLE: "20"}, str(comp.MIN_METRICS_QUEUE)),
        ({VARIABLE: "2048", comp.METRICS_QUEUE_VARIABLE: "100"}, "100"),  # the user's own wins
        ({VARIABLE: "0"}, None),  # a percentage of the container: config.yaml's default stands
    ],
)
def test_the_native_stack_sizes_the_remote_write_queue_to_the_memory_limit(
    tmp_path: Path, env: dict[str, str], queue: str | None
) -> None:
    """`OTELCOL_MEMORY_LIMIT_MIB=256` with config.yaml's 384 requests (~200 MiB) let a Prometheus
    outage fill the limit again, and the memory limiter then refused traces and logs too."""
    stack = comp.components(ROOT, tmp_path, env=env, gateways=0)
    (collector,) = [c for c in stack if c.install_name == "otelcol-bundle"]
    assert collector.env.get(comp.METRICS_QUEUE_VARIABLE) == queue
    if queue is not None and comp.METRICS_QUEUE_VARIABLE not in env:
        limit_mib = int(env.get(VARIABLE, comp.DEFAULT_MEMORY_LIMIT_MIB))
        assert int(queue) * 0.53 <= 0.8 * limit_mib / 4 or int(queue) == comp.MIN_METRICS_QUEUE


def test_the_default_matches_config_yaml() -> None:
    text = (COLLECTOR / "config.yaml").read_text()
    match = re.search(r"queue_size: \$\{env:OTELCOL_METRICS_QUEUE_SIZE:-(\d+)\}", text)
    assert match and int(match[1]) == int(int(comp.DEFAULT_MEMORY_LIMIT_MIB) * comp.METRICS_QUEUE_PER_MIB)


@pytest.mark.parametrize(
    ("env", "gateways", "queue"),
    [
        ({}, 1, str(int(1024 * 2**20 * 0.8 / 4 / 2.5))),  # 85 MB: one gateway, the default 1 GiB
        ({}, 2, str(int(1024 * 2**20 * 0.8 / 4 / 2.5 / 2))),
        ({VARIABLE: "4096"}, 2, str(int(4096 * 2**20 * 0.8 / 4 / 2.5 / 2))),
        ({VARIABLE: "256"}, 2, str(comp.MIN_GATEWAY_QUEUE_BYTES)),  # never under one 20 MiB request
        ({comp.GATEWAY_QUEUE_VARIABLE: "1000000"}, 2, "1000000"),  # the user's own wins
        ({}, 0, None),  # a single collector: no gateway queues
    ],
)
def test_the_native_stack_sizes_the_agents_gateway_queues_to_the_limit_and_their_number(
    tmp_path: Path, env: dict[str, str], gateways: int, queue: str | None
) -> None:
    """agent.yaml's 32 MiB default fits 2 gateways at 1 GiB; `stack up --gateways 4` with it, or
    a smaller limit, let the full queues of a gateway outage pass a quarter of the soft limit."""
    stack = comp.components(ROOT, tmp_path, env=env, gateways=gateways)
    (agent,) = [c for c in stack if c.name == "otelcol-bundle"]
    assert agent.env.get(comp.GATEWAY_QUEUE_VARIABLE) == queue


@pytest.mark.parametrize(
    ("env", "queue"),
    [
        ({}, str(int(1024 * 2**20 * 0.8 / 4 / 2.5))),  # 85 MB: a quarter of 819 MiB at 2.5 a byte
        ({VARIABLE: "4096"}, str(int(4096 * 2**20 * 0.8 / 4 / 2.5))),
        ({VARIABLE: "128"}, str(comp.MIN_JAEGER_QUEUE_BYTES)),  # never under one 20 MiB request
        ({comp.JAEGER_QUEUE_VARIABLE: " 1000000 "}, "1000000"),  # the user's own wins
    ],
)
def test_the_native_stack_sizes_each_gateways_jaeger_queue_to_its_limit(
    tmp_path: Path, env: dict[str, str], queue: str
) -> None:
    """gateway.yaml held 5000 batches of any size in memory: a Jaeger outage could fill a gateway's
    soft limit, and its memory limiter then refused every span the agents sent. Each gateway has a
    limit of its own, so the number of gateways does not change its queue."""
    for gateways in (1, 3):
        stack = comp.components(ROOT, tmp_path, env=env, gateways=gateways)
        found = {c.name: c.env.get(comp.JAEGER_QUEUE_VARIABLE) for c in stack}
        assert found.pop("otelcol-bundle") is None  # the agent sends traces to the gateways, not Jaeger
        assert found == {
            **{comp.gateway_name(i): queue for i in range(1, gateways + 1)},
            **{name: None for name in found if not name.startswith("otelcol-gateway-")},
        }


def test_the_jaeger_queue_default_matches_gateway_yaml() -> None:
    """The file's default is within what `stack up` passes at the default limit, and not below
    one request."""
    queue = load(COLLECTOR / "gateway.yaml")["exporters"]["otlp_http/jaeger"]["sending_queue"]
    match = _ENV_WITH_DEFAULT.match(str(queue["queue_size"]))
    assert queue.get("sizer") == "bytes" and match and match["name"] == comp.JAEGER_QUEUE_VARIABLE, queue
    passed = int(comp.jaeger_queue_bytes({})[comp.JAEGER_QUEUE_VARIABLE])
    assert comp.MIN_JAEGER_QUEUE_BYTES <= int(match["default"]) <= passed
    assert int(queue["batch"]["max_size"]) == comp.MIN_JAEGER_QUEUE_BYTES
