"""`otelbundle stack config` and `--config-root`, and `stack up` installing what is
missing first - run as the command a person types, from outside the checkout."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from tests.unit.cli.stack.test_install import ReleaseServer

ROOT = Path(__file__).resolve().parents[4]


def otelbundle(*args: str, cwd: Path, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "otelbundle.cli", *args],
        cwd=cwd,
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_config_prints_lists_and_exports_a_root_to_start_from(tmp_path: Path) -> None:
    shown = otelbundle("stack", "config", "loki", cwd=tmp_path)
    assert shown.returncode == 0, shown.stderr
    assert shown.stdout == (ROOT / "deploy" / "loki" / "config.yaml").read_text()
    listed = otelbundle("stack", "config", "--list", cwd=tmp_path)
    assert "collector                  otel-collector/config.yaml" in listed.stdout
    assert "deploy/tools/jaeger/go.mod" in listed.stdout

    mine = tmp_path / "mine"
    exported = otelbundle("stack", "config", "--export", str(mine), cwd=tmp_path)
    assert exported.returncode == 0, exported.stderr
    with open(mine / "otel-collector" / "config.yaml", "a") as config:
        config.write("# edited by me\n")
    for args in (
        ("stack", "--config-root", str(mine), "config", "collector"),
        ("stack", "config", "collector", "--config-root", str(mine)),
    ):
        own = otelbundle(*args, cwd=tmp_path)
        assert own.returncode == 0, own.stderr
        assert own.stdout.endswith("# edited by me\n"), args
    again = otelbundle("stack", "config", "--export", str(mine), cwd=tmp_path)
    assert again.returncode == 1 and "not overwriting" in again.stderr


def test_a_named_config_root_must_hold_the_files(tmp_path: Path) -> None:
    flag = otelbundle("stack", "status", "--config-root", str(tmp_path), cwd=tmp_path)
    assert flag.returncode == 1
    assert f"--config-root={tmp_path} holds no otel-collector/config.yaml" in flag.stderr, flag.stderr
    variable = otelbundle("stack", "status", cwd=tmp_path, OTELBUNDLE_CONFIG_ROOT=str(tmp_path))
    assert f"OTELBUNDLE_CONFIG_ROOT={tmp_path} holds no" in variable.stderr, variable.stderr
    unknown = otelbundle("stack", "config", "grafana-cloud", cwd=tmp_path)
    assert unknown.returncode == 1 and "no file 'grafana-cloud'" in unknown.stderr
    outside = otelbundle("stack", "config", "../../etc/passwd", cwd=tmp_path)
    assert outside.returncode == 1 and "root:" not in outside.stdout


def test_up_installs_what_is_missing_first_and_says_why(tmp_path: Path) -> None:
    server = ReleaseServer()  # serves nothing: every release is a 404
    try:
        empty_path = tmp_path / "no-tools"
        empty_path.mkdir()
        up = otelbundle(
            "stack",
            "up",
            "--timeout",
            "1",
            cwd=tmp_path,
            PATH=str(empty_path),  # no go, no Debian prometheus
            OTELBUNDLE_CACHE=str(tmp_path / "cache"),
            OTELBUNDLE_STACK_DIR=str(tmp_path / "stack"),
            OTELBUNDLE_DOWNLOAD_URL=server.url,
        )
    finally:
        server.close()
    assert up.returncode == 1
    assert (
        "not installed yet: victorialogs 1.52.2, prometheus 2.42.0, alertmanager 0.31.1, jaeger 2.12.0, "
        "otelcol-bundle 0.159.0" in up.stdout
    ), up.stdout
    assert up.stderr.startswith("otelbundle stack up: victorialogs 1.52.2: ") and "HTTP 404" in up.stderr, (
        up.stderr
    )
    assert "Traceback" not in up.stderr
    assert not (tmp_path / "stack" / "run").exists(), "nothing may start before the binaries are there"
    bin_dir = tmp_path / "cache" / "bin"
    assert not bin_dir.exists() or not any(bin_dir.iterdir())


def test_stack_logs_refuses_a_line_count_that_is_not_positive(tmp_path: Path) -> None:
    """`-n 0` printed the whole log and `-n -3` all but its first 3 lines."""
    for bad in ("0", "-3", "x"):
        shown = otelbundle(
            "stack", "logs", "jaeger", "-n", bad, cwd=tmp_path, OTELBUNDLE_STACK_DIR=str(tmp_path)
        )
        assert shown.returncode == 2, shown.stdout
        assert f"argument -n/--lines: '{bad}' is not a positive number of lines" in shown.stderr
    log = tmp_path / "logs" / "jaeger.log"
    log.parent.mkdir()
    log.write_text("".join(f"line {i}\n" for i in range(10)))
    shown = otelbundle("stack", "logs", "jaeger", "-n", "2", cwd=tmp_path, OTELBUNDLE_STACK_DIR=str(tmp_path))
    assert shown.stdout.splitlines()[1:] == ["line 8", "line 9"], shown.stdout


def test_stack_up_refuses_a_timeout_that_is_not_positive(tmp_path: Path) -> None:
    """`--timeout -1` started every component, then failed at once with 'not healthy after -1s'."""
    for bad in ("0", "-1", "nan", "soon"):
        shown = otelbundle("stack", "up", "--timeout", bad, cwd=tmp_path, OTELBUNDLE_STACK_DIR=str(tmp_path))
        assert shown.returncode == 2, shown.stdout
        assert f"argument --timeout: '{bad}' is not a positive number of seconds" in shown.stderr
        assert not (tmp_path / "run").exists()


def test_printing_into_head_ends_quietly(tmp_path: Path) -> None:
    """`otelbundle stack logs | head -c 10` (status, config alike) ended in a BrokenPipeError traceback.

    The log is larger than a pipe holds (64 kB), so `stack logs` is still writing when head exits,
    whichever runs first; the status is the pipeline's (pipefail): 141, as for a program killed by SIGPIPE.
    """
    log = tmp_path / "logs" / "jaeger.log"
    log.parent.mkdir()
    log.write_text("".join(f"jaeger log line {i:06}\n" for i in range(20_000)))  # 460 kB
    shown = subprocess.run(
        [
            "bash",
            "-o",
            "pipefail",
            "-c",
            f"{sys.executable} -m otelbundle.cli stack logs jaeger -n 20000 | head -c 10",
        ],
        cwd=tmp_path,
        env={**os.environ, "OTELBUNDLE_STACK_DIR": str(tmp_path)},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert shown.stdout == "--- jaeger"
    assert shown.stderr == ""
    assert shown.returncode == 141
