"""The memory limit the collector enforces is the one the native stack asks for, read from the real
binary's start log line ("Memory limiter configured", limit_mib).

Without a container limit memory_limiter's percentage is of the whole machine: on this 24 GiB
machine the native collector logged limit_mib 19284 (80 %) before OTELCOL_MEMORY_LIMIT_MIB, so a
backend outage could grow it to 19 GiB before it refused anything. Each collector runs exactly as
`otelbundle stack up` starts it (its binary, arguments and environment from
``components.components``), in a network namespace of its own: the shipped configs listen on the
stack's fixed ports, which a CI run beside the tests may hold.
"""

from __future__ import annotations

import contextlib
import os
import re
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from harness.apps import ROOT, clean_env
from harness.collector import COLLECTOR, own_network, require_collector
from harness.shipped_collector import kubernetes_container
from otelbundle.cli.stack import components as comp

_CONFIGURED = re.compile(
    r"Memory limiter configured.*\"limit_mib\": (?P<limit>\d+), \"spike_limit_mib\": (?P<spike>\d+)"
)
_PERCENTAGE = re.compile(
    r"Using percentage memory limiter.*\"total_memory_mib\": (?P<total>\d+), \"limit_percentage\": (?P<pct>\d+)"
)


def _start_log(tmp_path: Path, component: comp.Component, prefix: tuple[str, ...] = ()) -> str:
    """The collector's output up to its memory limiter's start line, run as the stack runs it."""
    isolate = own_network()
    if not isolate:
        pytest.skip("no network namespace can be made here (needs root and unshare)")
    log = tmp_path / f"{component.name}.log"
    env = {**clean_env(), **component.env}
    with log.open("wb") as out:
        process = subprocess.Popen(
            [*prefix, *isolate, str(COLLECTOR), *component.args],
            env=env,
            cwd=tmp_path,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
        try:
            deadline = time.monotonic() + 60  # a start takes about a second
            while not _CONFIGURED.search(log.read_text()) and process.poll() is None:
                if time.monotonic() > deadline:
                    break
                time.sleep(0.1)
        finally:
            process.terminate()
            process.wait(timeout=60)
    return log.read_text()


def _limits(output: str) -> set[int]:
    limits = {int(m["limit"]) for m in _CONFIGURED.finditer(output)}
    assert limits, f"no 'Memory limiter configured' line:\n{output[-3000:]}"
    return limits


def _collectors(tmp_path: Path, env: dict[str, str], gateways: int = 0) -> list[comp.Component]:
    stack = comp.components(ROOT, tmp_path / "stack", env=env, gateways=gateways)
    return [c for c in stack if c.install_name == "otelcol-bundle"]


@pytest.mark.parametrize("given", [None, "512"])
def test_the_native_collector_enforces_the_limit_the_stack_asks_for(
    tmp_path: Path, given: str | None
) -> None:
    require_collector()
    env = {} if given is None else {comp.MEMORY_LIMIT_VARIABLE: given}
    [collector] = _collectors(tmp_path, env)
    wanted = int(given or comp.DEFAULT_MEMORY_LIMIT_MIB)
    assert _limits(_start_log(tmp_path, collector)) == {wanted}


def test_each_scale_out_gateway_and_the_agent_enforce_the_default(tmp_path: Path) -> None:
    require_collector()
    gateway, agent = _collectors(tmp_path, {}, gateways=1)
    assert gateway.name == "otelcol-gateway-1" and agent.name == "otelcol-bundle"
    for component in (gateway, agent):
        output = _start_log(tmp_path, component)
        assert _limits(output) == {int(comp.DEFAULT_MEMORY_LIMIT_MIB)}, component.name


def test_zero_falls_back_to_the_percentage_of_the_memory_limit_as_kubernetes_asks(tmp_path: Path) -> None:
    """The Kubernetes manifests set 0: 80 % of the container's limit. Here, outside a container,
    that is 80 % of the machine, which is what the other tests keep the stack away from."""
    require_collector()
    [collector] = _collectors(tmp_path, {comp.MEMORY_LIMIT_VARIABLE: "0"})
    output = _start_log(tmp_path, collector)
    percentage = _PERCENTAGE.search(output)
    assert percentage, output[-3000:]
    [limit] = _limits(output)
    # The collector takes the percentage of the bytes, then rounds to MiB: within one MiB.
    assert abs(limit - int(percentage["total"]) * int(percentage["pct"]) // 100) <= 1, output[-3000:]


@contextlib.contextmanager
def _memory_cgroup(limit_bytes: int) -> Iterator[Path]:
    """A memory cgroup limited to ``limit_bytes``, as a container runtime makes one for a pod's
    container (v2 where the unified hierarchy has the memory controller, else v1); its
    ``cgroup.procs``. Skips where no cgroup can be made (not root, read-only /sys/fs/cgroup)."""
    name = f"otelbundle-test-{os.getpid()}"
    candidates = [
        (Path("/sys/fs/cgroup") / name, "memory.max"),
        (Path("/sys/fs/cgroup/unified") / name, "memory.max"),
        (Path("/sys/fs/cgroup/memory") / name, "memory.limit_in_bytes"),
    ]
    for group, limit_file in candidates:
        try:
            group.mkdir()
        except OSError:
            continue
        # A cgroup file system fills a new group with its files; a plain directory (a tmpfs over
        # /sys/fs/cgroup, as under a v1 layout) or a v2 group without the memory controller has
        # no limit file to write.
        if not (group / limit_file).exists():
            group.rmdir()
            continue
        (group / limit_file).write_text(str(limit_bytes))
        try:
            yield group / "cgroup.procs"
        finally:
            for _ in range(100):  # the collector's process leaves the group as it exits
                try:
                    group.rmdir()
                    break
                except OSError:
                    time.sleep(0.1)
        return
    pytest.skip("no memory cgroup can be made here (needs root and a writable /sys/fs/cgroup)")


def test_zero_takes_80_percent_of_the_container_memory_limit(tmp_path: Path) -> None:
    """What the Kubernetes manifests ask for, in a real memory cgroup as a container limit
    makes: the collector must enforce 80 % of the agent container's limit (704 MiB: 563), not of
    the machine. Its spike allowance is 20 % of the container too (141 MiB, not 20 % of the
    limit), so the soft limit where it refuses everything is 60 % of the container (422 MiB),
    which the manifests size their queues by."""
    require_collector()
    manifests = [
        ROOT / "deploy" / "k8s" / name for name in ("collector-agent.yaml", "collector-gateway.yaml")
    ]
    for manifest in manifests:
        assert f'{{name: {comp.MEMORY_LIMIT_VARIABLE}, value: "0"}}' in manifest.read_text(), manifest
    _, _, container_mib = kubernetes_container("collector-agent.yaml", "DaemonSet")
    [collector] = _collectors(tmp_path, {comp.MEMORY_LIMIT_VARIABLE: "0"})
    with _memory_cgroup(container_mib * 1024 * 1024) as procs:
        # The shell joins the cgroup, then becomes the collector: it starts inside the limit.
        join = ("sh", "-c", 'echo $$ > "$0" && exec "$@"', str(procs))
        output = _start_log(tmp_path, collector, join)
    percentage = _PERCENTAGE.search(output)
    assert percentage and int(percentage["total"]) == container_mib, output[-3000:]
    # The collector takes the percentages of the bytes, then rounds down to MiB.
    assert _limits(output) == {container_mib * 80 // 100}, output[-3000:]
    [configured] = _CONFIGURED.finditer(output)
    assert int(configured["spike"]) == container_mib * 20 // 100, output[-3000:]
    soft_limit_mib = int(configured["limit"]) - int(configured["spike"])
    assert abs(soft_limit_mib - container_mib * 0.6) <= 1, output[-3000:]
