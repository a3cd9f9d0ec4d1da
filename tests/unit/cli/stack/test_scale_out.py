"""`stack up --gateways N`'s components, its recorded topology, and the data folders the runner
passes (a user's OTELCOL_STORAGE_DIR / LOKI_DATA_DIR / JAEGER_BADGER_DIR win), without the real backends."""

from __future__ import annotations

import contextlib
import http.server
import os
import stat
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from otelbundle.cli.stack import components as comp
from otelbundle.cli.stack.runner import Stack, StackError

ROOT = Path(__file__).resolve().parents[4]


def by_name(components: list[comp.Component]) -> dict[str, comp.Component]:
    return {c.name: c for c in components}


def test_default_is_the_single_collector(tmp_path: Path) -> None:
    found = by_name(comp.components(ROOT, tmp_path, env={}))
    assert not [n for n in found if n.startswith("otelcol-gateway")]
    collector = found["otelcol-bundle"]
    assert collector.args == (f"--config={ROOT / 'otel-collector' / 'config.yaml'}",)
    assert "OTELCOL_GATEWAY_ENDPOINTS" not in collector.env


def test_two_gateways_behind_the_agent_on_their_own_ports(tmp_path: Path) -> None:
    listed = comp.components(ROOT, tmp_path, env={}, gateways=2)
    names = [c.name for c in listed]
    # Gateways start before the agent that routes to them.
    assert names.index("otelcol-gateway-1") < names.index("otelcol-gateway-2") < names.index("otelcol-bundle")
    found = by_name(listed)
    agent, one, two = found["otelcol-bundle"], found["otelcol-gateway-1"], found["otelcol-gateway-2"]
    assert agent.ports == (4317, 4318, 13133, 8888)
    assert [a.rsplit("/", 1)[1] for a in agent.args] == ["config.yaml", "agent.yaml"]
    assert agent.env["OTELCOL_GATEWAY_ENDPOINTS"] == "[127.0.0.1:4321,127.0.0.1:4322]"
    assert agent.env["OTELCOL_AGENT_INSTANCE"]
    for index, gateway in ((1, one), (2, two)):
        assert gateway.args == (f"--config={ROOT / 'otel-collector' / 'gateway.yaml'}",)
        assert gateway.env["OTELCOL_OTLP_GRPC_PORT"] == str(4320 + index)
        assert gateway.health_url == f"http://127.0.0.1:{13133 + index}/"
        # No queue on disk: it drains into Jaeger when the gateway stops (gateway.yaml).
        assert "OTELCOL_STORAGE_DIR" not in gateway.env
        # One binary, one install name, one override variable.
        assert gateway.install_name == "otelcol-bundle" and gateway.env_var == "OTELBUNDLE_OTELCOL_BUNDLE_BIN"
    ports = [p for c in listed for p in c.ports]
    assert len(ports) == len(set(ports)), sorted(ports)


def test_every_start_of_the_agent_gets_a_new_instance_label(tmp_path: Path) -> None:
    first = by_name(comp.components(ROOT, tmp_path, env={}, gateways=1))["otelcol-bundle"]
    second = by_name(comp.components(ROOT, tmp_path, env={}, gateways=1))["otelcol-bundle"]
    assert first.env["OTELCOL_AGENT_INSTANCE"] != second.env["OTELCOL_AGENT_INSTANCE"]


def test_a_users_storage_folders_win_over_the_stack_defaults(tmp_path: Path) -> None:
    defaults = by_name(comp.components(ROOT, tmp_path / "data", env={}))
    assert defaults["otelcol-bundle"].env["OTELCOL_STORAGE_DIR"] == str(tmp_path / "data" / "otelcol")
    assert f"-storageDataPath={tmp_path / 'data' / 'victorialogs'}" in defaults["victorialogs"].args
    assert defaults["jaeger"].env["JAEGER_BADGER_DIR"] == str(tmp_path / "data" / "jaeger")
    loki = by_name(comp.components(ROOT, tmp_path / "data", env={}, logs="loki"))
    assert loki["loki"].env["LOKI_DATA_DIR"] == str(tmp_path / "data" / "loki")
    env = {
        "OTELCOL_STORAGE_DIR": str(tmp_path / "q"),
        "LOKI_DATA_DIR": str(tmp_path / "l"),
        "VICTORIALOGS_DATA_DIR": str(tmp_path / "v"),
        "JAEGER_BADGER_DIR": str(tmp_path / "j"),
    }
    mine = by_name(comp.components(ROOT, tmp_path / "data", env=env, gateways=1))
    assert mine["otelcol-bundle"].env["OTELCOL_STORAGE_DIR"] == str(tmp_path / "q")
    # A gateway keeps nothing on disk: its queue drains into Jaeger when it stops (gateway.yaml).
    assert "OTELCOL_STORAGE_DIR" not in mine["otelcol-gateway-1"].env
    assert f"-storageDataPath={tmp_path / 'v'}" in mine["victorialogs"].args
    assert mine["jaeger"].env["JAEGER_BADGER_DIR"] == str(tmp_path / "j")
    assert by_name(comp.components(ROOT, tmp_path / "data", env=env, logs="loki"))["loki"].env[
        "LOKI_DATA_DIR"
    ] == str(tmp_path / "l")


def test_the_started_process_gets_the_users_storage_folder(tmp_path: Path) -> None:
    """The runner's real start path, with a stand-in binary that records its environment."""
    seen = tmp_path / "env.txt"
    fake = tmp_path / "bin" / "otelcol-bundle"
    fake.parent.mkdir()
    fake.write_text(f"#!/bin/sh\nenv > {seen}\n")
    fake.chmod(fake.stat().st_mode | stat.S_IEXEC)
    mine = tmp_path / "my-queue"
    stack = Stack(
        data_dir=tmp_path / "data",
        config_root=ROOT,
        env={"OTELBUNDLE_OTELCOL_BUNDLE_BIN": str(fake), "OTELCOL_STORAGE_DIR": str(mine)},
        say=lambda _: None,
    )
    with someone_answers_health_on(13133), pytest.raises(StackError, match="exited during start-up"):
        stack.start_component(stack.component("otelcol-bundle"), timeout=5)
    assert f"OTELCOL_STORAGE_DIR={mine}" in seen.read_text().splitlines()
    assert mine.is_dir()


@contextlib.contextmanager
def someone_answers_health_on(port: int) -> Iterator[None]:
    """Another process's health endpoint on the component's port (as when another stack
    runs): it must not pass for the component we started. If the port is already
    taken, whoever holds it plays that part."""
    try:
        server = http.server.ThreadingHTTPServer(("127.0.0.1", port), _Ok)
    except OSError:
        yield
        return
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield
    finally:
        server.shutdown()
        server.server_close()


class _Ok(http.server.BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        self.send_response(200)
        self.end_headers()

    def log_message(self, *args: object) -> None:
        pass


def test_the_topology_of_the_last_up_is_kept_until_down(tmp_path: Path) -> None:
    run = tmp_path / "run"
    run.mkdir()
    (run / "topology.json").write_text('{"gateways": 2}\n')
    recorded = Stack(data_dir=tmp_path, config_root=ROOT, env={}, say=lambda _: None)
    assert recorded.gateways == 2
    assert {"otelcol-gateway-1", "otelcol-gateway-2"} <= {c.name for c in recorded.components}
    assert Stack(data_dir=tmp_path, config_root=ROOT, env={}, gateways=0, say=lambda _: None).gateways == 0
    recorded.down()
    assert not (run / "topology.json").exists()
    assert Stack(data_dir=tmp_path, config_root=ROOT, env={}, say=lambda _: None).gateways == 0


def test_a_negative_gateway_count_is_refused(tmp_path: Path) -> None:
    with pytest.raises(StackError, match="--gateways must be from 0 to 16"):
        Stack(data_dir=tmp_path, config_root=ROOT, env={}, gateways=-1, say=lambda _: None)


def test_status_lists_every_process_of_the_recorded_topology(tmp_path: Path) -> None:
    """`otelbundle stack status` as typed, on a stack dir whose last `up` ran 2 gateways (none running)."""
    (tmp_path / "run").mkdir()
    (tmp_path / "run" / "topology.json").write_text('{"gateways": 2}\n')
    shown = subprocess.run(
        [sys.executable, "-m", "otelbundle.cli", "stack", "status", "--config-root", str(ROOT)],
        env={**os.environ, "OTELBUNDLE_STACK_DIR": str(tmp_path)},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert shown.returncode == 3, shown.stderr  # not healthy: nothing runs
    assert "scale-out: otelcol-bundle is the agent (4317/4318) of 2 gateway(s)" in shown.stdout
    for name, url in (
        ("otelcol-gateway-1", "13134"),
        ("otelcol-gateway-2", "13135"),
        ("otelcol-bundle", "13133"),
    ):
        assert any(
            line.startswith(name) and f"127.0.0.1:{url}/" in line for line in shown.stdout.splitlines()
        ), (
            name,
            shown.stdout,
        )
    helped = subprocess.run(
        [sys.executable, "-m", "otelbundle.cli", "stack", "up", "--help"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert "--gateways N" in helped.stdout


def test_down_stops_the_agent_then_the_gateways_then_jaeger_each_after_the_last_exited(
    tmp_path: Path,
) -> None:
    """A stop hands data downstream: the agent drains into the gateways, the gateways decide
    and drain into Jaeger. So each must have exited before the next one is stopped. Stand-in
    processes record when they get SIGTERM and when they are done (0.3 s later)."""
    order = tmp_path / "order.txt"
    stack = Stack(data_dir=tmp_path / "data", config_root=ROOT, env={}, gateways=2, say=lambda _: None)
    (tmp_path / "data" / "run").mkdir(parents=True)
    names = ["jaeger", "otelcol-gateway-1", "otelcol-gateway-2", "otelcol-bundle"]
    processes = []
    for name in names:
        ready = tmp_path / f"{name}.ready"
        script = (
            f'trap "echo {name} stopping >> {order}; sleep 0.3; echo {name} exited >> {order}; exit 0" TERM; '
            f"touch {ready}; while :; do sleep 0.05; done"
        )
        process = subprocess.Popen(["sh", "-c", script], cwd=tmp_path / "data")  # as the runner starts them
        processes.append(process)
        (tmp_path / "data" / "run" / f"{name}.pid").write_text(str(process.pid))
    try:
        while not all((tmp_path / f"{name}.ready").exists() for name in names):  # traps set
            time.sleep(0.01)
        stack.down()
    finally:
        for process in processes:
            if process.poll() is None:
                process.kill()
            process.wait()
    expected = [f"{n} {what}" for n in reversed(names) for what in ("stopping", "exited")]
    assert order.read_text().splitlines() == expected


def test_collectors_get_a_minute_to_hand_over_what_they_hold(tmp_path: Path) -> None:
    found = by_name(comp.components(ROOT, tmp_path, env={}, gateways=1))
    assert found["otelcol-bundle"].stop_grace == found["otelcol-gateway-1"].stop_grace == 60.0
    assert found["prometheus"].stop_grace == 15.0
