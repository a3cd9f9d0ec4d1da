"""An `up --gateways N` cut short after a gateway started (Ctrl-C, a component that never gets
healthy) must leave the topology recorded: no topology.json was written, `status` hid the running
gateway and a plain `up` then started a single collector beside it."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from harness.collector import own_network

ROOT = Path(__file__).resolve().parents[4]
NAMES = ("VICTORIALOGS", "PROMETHEUS", "ALERTMANAGER", "JAEGER", "OTELCOL_BUNDLE")


def test_an_up_with_gateways_cut_short_leaves_the_gateways_recorded_and_shown(tmp_path: Path) -> None:
    # In a network namespace of its own: CI's stack may hold the fixed ports.
    isolate = own_network()
    if not isolate:
        pytest.skip("needs a network namespace of its own (root and unshare): CI's stack holds the ports")
    data = tmp_path / "data"
    fake = tmp_path / "backend"
    fake.write_text("#!/bin/sh\nexec sleep 600\n")  # runs, never healthy
    fake.chmod(fake.stat().st_mode | stat.S_IEXEC)
    env = {
        **os.environ,
        **{f"OTELBUNDLE_{name}_BIN": str(fake) for name in NAMES},
        "OTELBUNDLE_STACK_DIR": str(data),
    }

    def stack(*args: str) -> subprocess.CompletedProcess[str]:
        command = [sys.executable, "-m", "otelbundle.cli", "stack", *args, "--config-root", str(ROOT)]
        return subprocess.run([*isolate, *command], env=env, capture_output=True, text=True, timeout=120)

    try:
        # The first gateway is waited for before anything else starts: 1 s, and it never answers.
        up = stack("up", "--no-install", "--gateways", "2", "--timeout", "1")
        assert up.returncode == 1 and "not healthy after 1s: otelcol-gateway-1" in up.stderr, up.stderr
        gateway = int((data / "run" / "otelcol-gateway-1.pid").read_text())
        assert json.loads((data / "run" / "topology.json").read_text())["gateways"] == 2
        status = stack("status")
        assert "scale-out: otelcol-bundle is the agent (4317/4318) of 2 gateway(s)" in status.stdout
        [line] = [line for line in status.stdout.splitlines() if line.startswith("otelcol-gateway-1 ")]
        assert f"pid {gateway}" in line, status.stdout
    finally:
        for pid_file in (data / "run").glob("*.pid"):
            with contextlib.suppress(ProcessLookupError, ValueError):
                os.kill(int(pid_file.read_text()), signal.SIGKILL)
