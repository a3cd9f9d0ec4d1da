"""`stack up` on a running stack, with real (stand-in) processes: a component whose config file
or environment changed is restarted and `up` says why; unchanged, it stays. Reported: an edited
`--config-root` copy was answered "already running and healthy", the old process kept."""

from __future__ import annotations

import hashlib
import socket
import stat
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from otelbundle.cli.stack import components as comp
from otelbundle.cli.stack.runner import Stack

ROOT = Path(__file__).resolve().parents[4]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def stack_of_one(tmp_path: Path) -> Iterator[tuple[Stack, Path, list[str]]]:
    """A stack of one stand-in component (an HTTP server) started with a config file it names
    (--config.file=) and that file's ${env:GREETING}: (the stack, the config file, what it said)."""
    config = tmp_path / "root" / "deploy" / "standin.yml"
    config.parent.mkdir(parents=True)
    config.write_text("greeting: ${env:GREETING:-hello}\n")
    port = free_port()
    binary = tmp_path / "standin"
    binary.write_text(f"#!/bin/sh\nexec {sys.executable} -m http.server {port} --bind 127.0.0.1\n")
    binary.chmod(binary.stat().st_mode | stat.S_IEXEC)
    said: list[str] = []
    stack = Stack(
        data_dir=tmp_path / "data",
        config_root=ROOT,
        env={"OTELBUNDLE_PROMETHEUS_BIN": str(binary)},
        say=said.append,
    )
    stack.components = [
        comp.Component(
            "prometheus",
            "2.42.0",
            "prometheus",
            (),
            f"http://127.0.0.1:{port}/",
            (port,),
            args=(f"--config.file={config}",),
        )
    ]
    try:
        yield stack, config, said
    finally:
        stack.down(timeout=10)


def pid_of(stack: Stack) -> int | None:
    [state] = stack.status()
    return state.pid


def test_up_restarts_a_running_component_whose_config_file_changed_and_says_so(
    stack_of_one: tuple[Stack, Path, list[str]],
) -> None:
    stack, config, said = stack_of_one
    stack.up(timeout=30)
    first = pid_of(stack)
    assert first is not None

    stack.up(timeout=30)
    assert pid_of(stack) == first
    assert said[-1].split() == ["prometheus", "already", "running", "and", "healthy"], said

    config.write_text("greeting: ${env:GREETING:-hi}\n")
    del said[:]
    stack.up(timeout=30)
    assert said[0].split(None, 1) == [
        "prometheus",
        f"settings changed (config file {config}), restarting",
    ], said
    second = pid_of(stack)
    assert second not in (None, first)

    del said[:]
    stack.up(timeout=30)
    assert pid_of(stack) == second
    assert "already running and healthy" in said[-1], said


def test_up_restarts_a_running_component_whose_config_reads_a_changed_variable(
    stack_of_one: tuple[Stack, Path, list[str]],
) -> None:
    stack, _, said = stack_of_one
    stack.up(timeout=30)
    first = pid_of(stack)
    stack.env["GREETING"] = "bonjour"
    del said[:]
    stack.up(timeout=30)
    assert said[0].split(None, 1) == ["prometheus", "settings changed (environment GREETING), restarting"], (
        said
    )
    assert pid_of(stack) not in (None, first)


def test_a_recorded_variable_cannot_be_confirmed_by_guessing_and_only_the_owner_reads_it(
    stack_of_one: tuple[Stack, Path, list[str]],
) -> None:
    """The settings file held sha256(value)[:16] in a file of the umask's mode: anyone who could
    read it could test guesses of a short token offline. Now the hash is keyed by a random key
    that only the owner can read."""
    stack, _, _ = stack_of_one
    stack.env["GREETING"] = "hunter2"
    stack.up(timeout=30)
    run = stack.dir.run
    recorded = (run / "prometheus.settings.json").read_text()
    assert '"GREETING"' in recorded
    assert "hunter2" not in recorded
    assert hashlib.sha256(b"hunter2").hexdigest()[:16] not in recorded
    for name in ("prometheus.settings.json", "settings.key"):
        assert stat.S_IMODE((run / name).stat().st_mode) == 0o600, name
    # Keyed, not random per write: the same value is the same settings, no restart.
    first = pid_of(stack)
    stack.up(timeout=30)
    assert pid_of(stack) == first
