"""A busy port: who holds it, and whether `stack up` reuses it or refuses - never kills it."""

from __future__ import annotations

import dataclasses
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from harness.apps import free_port
from otelbundle.cli.stack import components as comp
from otelbundle.cli.stack.holders import port_holder
from otelbundle.cli.stack.processes import healthy
from otelbundle.cli.stack.runner import Stack, StackError

ROOT = Path(__file__).resolve().parents[4]

# A stand-in component: an HTTP server answering 200 on /, started with a --config=FILE argument.
SERVER = (
    "import http.server,sys;"
    "h=type('H',(http.server.BaseHTTPRequestHandler,),{'do_GET':lambda s:(s.send_response(200),s.end_headers()),"
    "'log_message':lambda *a:None});"
    "http.server.HTTPServer(('127.0.0.1',int(sys.argv[1])),h).serve_forever()"
)


@dataclasses.dataclass
class Running:
    process: subprocess.Popen[bytes]
    port: int
    config: Path
    data_dir: Path


def _start(data_dir: Path, config_text: str, record_pid: bool) -> Running:
    data_dir.mkdir(parents=True)
    config = data_dir / "config.yaml"
    config.write_text(config_text)
    port = free_port()
    process = subprocess.Popen([sys.executable, "-c", SERVER, str(port), f"--config={config}"], cwd=data_dir)
    if record_pid:
        (data_dir / "run").mkdir()
        (data_dir / "run" / "fake.pid").write_text(str(process.pid))
    end = time.monotonic() + 10
    while not healthy(f"http://127.0.0.1:{port}/") and time.monotonic() < end:
        time.sleep(0.05)
    return Running(process, port, config, data_dir)


@pytest.fixture
def other_stack(tmp_path: Path) -> Iterator[Running]:
    running = _start(tmp_path / "other-stack", "same: config\n", record_pid=True)
    yield running
    running.process.terminate()
    running.process.wait(5)


def _our_stack(tmp_path: Path, held: Running, config_text: str, monkeypatch: pytest.MonkeyPatch) -> Stack:
    monkeypatch.setattr(comp, "CACHE_ROOT", tmp_path / "cache")
    stack = Stack(data_dir=tmp_path / "ours", config_root=ROOT, env={}, say=lambda _: None)
    config = tmp_path / "our-checkout" / "config.yaml"
    config.parent.mkdir()
    config.write_text(config_text)
    fake = comp.Component(
        name="fake",
        version="1",
        binary="python",
        path_names=(),
        health_url=f"http://127.0.0.1:{held.port}/",
        ports=(held.port,),
        args=("-c", SERVER, str(held.port), f"--config={config}"),
    )
    stack.components = [fake]
    stack.env[fake.env_var] = sys.executable
    return stack


def test_the_holder_of_a_port_is_named_with_its_pid_and_command(other_stack: Running) -> None:
    holder = port_holder(other_stack.port)
    assert holder is not None
    assert holder.pid == other_stack.process.pid
    assert f"--config={other_stack.config}" in holder.command
    assert holder.stack_dir() == other_stack.data_dir


def test_the_same_component_of_another_stack_is_reused_not_restarted(
    tmp_path: Path, other_stack: Running, monkeypatch: pytest.MonkeyPatch
) -> None:
    said: list[str] = []
    stack = _our_stack(tmp_path, other_stack, "same: config\n", monkeypatch)
    stack.say = said.append
    stack.up(timeout=5)
    assert any("reusing" in line and str(other_stack.data_dir) in line for line in said), said
    assert other_stack.process.poll() is None
    stack.down()  # ours has no pid file for it: down must leave the other stack's process alone
    assert other_stack.process.poll() is None, "stack down stopped a process it did not start"


def test_a_different_config_in_another_stack_is_refused_with_how_to_stop_it(
    tmp_path: Path, other_stack: Running, monkeypatch: pytest.MonkeyPatch
) -> None:
    stack = _our_stack(tmp_path, other_stack, "different: config\n", monkeypatch)
    with pytest.raises(StackError) as caught:
        stack.up(timeout=5)
    message = str(caught.value)
    assert "another otelbundle stack" in message and str(other_stack.data_dir) in message
    assert f"OTELBUNDLE_STACK_DIR={other_stack.data_dir} otelbundle stack down" in message
    assert other_stack.process.poll() is None


def test_a_foreign_process_is_named_and_left_running(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    foreign = _start(tmp_path / "not-a-stack", "same: config\n", record_pid=False)
    try:
        stack = _our_stack(tmp_path, foreign, "same: config\n", monkeypatch)
        with pytest.raises(StackError) as caught:
            stack.up(timeout=5)
        message = str(caught.value)
        assert f"pid {foreign.process.pid}" in message and "did not start and will not stop" in message
        assert foreign.process.poll() is None
    finally:
        foreign.process.terminate()
        foreign.process.wait(5)


def test_no_script_or_test_kills_processes_by_name() -> None:
    offenders = []
    for path in [
        *ROOT.joinpath(".ci").iterdir(),
        ROOT / "Makefile",
        *ROOT.joinpath("tests").rglob("*.py"),
        *ROOT.joinpath("src").rglob("*.py"),
        *ROOT.joinpath("bench").rglob("*.py"),
    ]:
        if path.is_file() and path != Path(__file__):
            text = path.read_text(errors="replace")
            if any(word in text for word in ("pkill", "killall")):
                offenders.append(str(path.relative_to(ROOT)))
    assert not offenders, f"kill by process name in: {offenders}"


def test_jaeger_gets_the_ui_assets_when_they_are_installed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(comp, "CACHE_ROOT", tmp_path / "cache")
    jaeger = next(c for c in comp.components(ROOT, tmp_path, env={}) if c.name == "jaeger")
    assert "JAEGER_UI_ASSETS_PATH" not in jaeger.env
    ui = tmp_path / "cache" / "jaeger-ui" / f"v{comp.JAEGER_UI_VERSION}" / "build"
    ui.mkdir(parents=True)
    (ui / "index.html").write_text("<html></html>")
    jaeger = next(c for c in comp.components(ROOT, tmp_path, env={}) if c.name == "jaeger")
    assert jaeger.env["JAEGER_UI_ASSETS_PATH"] == str(ui)
    mine = tmp_path / "my-ui"
    (mine / "build").mkdir(parents=True)
    (mine / "build" / "index.html").write_text("<html></html>")
    env = {"OTELBUNDLE_JAEGER_UI_ASSETS": str(mine)}
    jaeger = next(c for c in comp.components(ROOT, tmp_path, env=env) if c.name == "jaeger")
    assert jaeger.env["JAEGER_UI_ASSETS_PATH"] == str(mine / "build")


def test_up_says_loudly_when_the_jaeger_ui_is_missing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(comp, "CACHE_ROOT", tmp_path / "empty-cache")
    said: list[str] = []
    stack = Stack(data_dir=tmp_path, config_root=ROOT, env={"PATH": os.defpath}, say=said.append)
    # What `up` says before it starts anything; the stack's own Jaeger is not started here.
    stack._warn_if_no_jaeger_ui()
    assert any("Jaeger UI" in line and "placeholder" in line for line in said), said
    assert any("OTELBUNDLE_JAEGER_UI_ASSETS" in line for line in said), said


def test_up_without_jaeger_among_its_components_says_nothing_of_its_ui(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(comp, "CACHE_ROOT", tmp_path / "empty-cache")
    said: list[str] = []
    stack = Stack(data_dir=tmp_path, config_root=ROOT, env={"PATH": os.defpath}, say=said.append)
    stack.components = []
    stack.up(timeout=1)
    assert not any("Jaeger UI" in line for line in said), said
