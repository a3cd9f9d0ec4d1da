"""`stack up` refuses a value it cannot use before it installs or starts anything, with exit
status 2 (a usage error) and a message that names the variable or option, the value and what
to write instead. Run as typed; every binary is a stand-in that leaves a mark if started."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path

import pytest

from otelbundle.cli.stack import components as comp

ROOT = Path(__file__).resolve().parents[4]
NAMES = ("VICTORIALOGS", "PROMETHEUS", "ALERTMANAGER", "JAEGER", "OTELCOL_BUNDLE")


def up(
    tmp_path: Path, *args: str, prefix: Sequence[str] = (), **env: str
) -> tuple[subprocess.CompletedProcess[str], list[str]]:
    """`otelbundle stack up ARGS` with ``env`` (behind the command ``prefix``): (the run, the
    names of the stand-ins it started)."""
    marks = tmp_path / "started"
    marks.mkdir(exist_ok=True)
    fake = tmp_path / "backend"
    fake.write_text(f'#!/bin/sh\ntouch "{marks}/$$"\nexit 3\n')
    fake.chmod(fake.stat().st_mode | stat.S_IEXEC)
    bins = {f"OTELBUNDLE_{name}_BIN": str(fake) for name in NAMES}
    ran = subprocess.run(
        [
            *prefix,
            sys.executable,
            "-m",
            "otelbundle.cli",
            "stack",
            "up",
            "--no-install",
            *args,
            "--config-root",
            str(ROOT),
        ],
        env={
            **os.environ,
            **bins,
            "OTELBUNDLE_STACK_DIR": str(tmp_path / "data"),
            "OTELBUNDLE_CACHE": str(tmp_path / "cache"),
            **env,
        },
        capture_output=True,
        text=True,
        timeout=120,
    )
    return ran, sorted(p.name for p in marks.iterdir())


@pytest.mark.parametrize("value", ["0.5", "0", "1g", "abc", "-5", "64", "99999999999", "²"])
def test_a_memory_limit_the_collector_cannot_use_natively_is_refused_before_anything_starts(
    tmp_path: Path, value: str
) -> None:
    """Reported: 0.5 and 0 ran the collector with limit_mib 19284 (80 % of the machine); 1g,
    abc and -5 started four backends, then the collector failed with "'limit_mib' expected
    type 'uint32'", the variable not named."""
    ran, started = up(tmp_path, OTELCOL_MEMORY_LIMIT_MIB=value)
    assert ran.returncode == 2, ran.stdout + ran.stderr
    assert started == [], ran.stdout + ran.stderr
    assert f"OTELCOL_MEMORY_LIMIT_MIB={value!r}: " in ran.stderr, ran.stderr
    assert "Write a whole number of MiB from 128 on" in ran.stderr, ran.stderr
    assert "Traceback" not in ran.stderr


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("OTELCOL_METRICS_QUEUE_SIZE", "1k"),
        ("OTELCOL_METRICS_QUEUE_SIZE", "٣٨٤"),  # Arabic-Indic digits: str.isdigit() took them
        ("OTELCOL_METRICS_QUEUE_SIZE", "0"),
        ("OTELCOL_GATEWAY_QUEUE_BYTES", "32MiB"),
        ("OTELCOL_JAEGER_QUEUE_BYTES", "80MiB"),
        ("OTELCOL_JAEGER_QUEUE_BYTES", "-1"),
    ],
)
def test_a_queue_size_the_collector_cannot_use_is_refused_before_anything_starts(
    tmp_path: Path, variable: str, value: str
) -> None:
    """Unchecked, the stores started and then the collector failed on 'queue_size', the
    variable not named."""
    ran, started = up(tmp_path, **{variable: value})
    assert ran.returncode == 2, ran.stdout + ran.stderr
    assert started == [], ran.stdout + ran.stderr
    assert f"{variable}={value!r}: not a whole number of " in ran.stderr, ran.stderr
    assert "Traceback" not in ran.stderr


def test_a_memory_limit_with_spaces_reaches_the_collector_without_them() -> None:
    """' 2048 ' passed the check (it strips) but went to the collector as written."""
    given = comp.collector_memory_limit(
        {"OTELCOL_MEMORY_LIMIT_MIB": " 2048 ", "OTELCOL_METRICS_QUEUE_SIZE": "200 "}
    )
    assert given == {"OTELCOL_MEMORY_LIMIT_MIB": "2048", "OTELCOL_METRICS_QUEUE_SIZE": "200"}


def test_debians_alertmanager_on_path_is_not_used_and_no_install_names_it_missing(tmp_path: Path) -> None:
    """Debian's prometheus-alertmanager 0.25 (on PATH) was started, serving its placeholder page
    instead of the UI, though deploy.md said it is not used."""
    path = tmp_path / "usr-bin"
    path.mkdir()
    for name in ("prometheus-alertmanager", "alertmanager"):
        debian = path / name
        debian.write_text("#!/bin/sh\nexit 3\n")
        debian.chmod(debian.stat().st_mode | stat.S_IEXEC)
    ran, started = up(tmp_path, PATH=f"{path}:{os.environ['PATH']}", OTELBUNDLE_ALERTMANAGER_BIN="")
    assert ran.returncode == 1, ran.stdout + ran.stderr
    assert started == []
    assert "not found: alertmanager 0.31.1." in ran.stderr, ran.stderr


def read_only(folder: Path) -> list[str]:
    """A command prefix that runs a program with ``folder`` mounted read-only (a mount namespace
    of its own); [] when this machine cannot make one (not root, no unshare)."""
    prefix = [
        "unshare",
        "--mount",
        "sh",
        "-c",
        f'mount --bind -o ro "{folder}" "{folder}" && exec "$@"',
        "sh",
    ]
    try:
        probe = subprocess.run([*prefix, "true"], capture_output=True, timeout=10)
    except OSError:
        return []
    return prefix if probe.returncode == 0 else []


@pytest.mark.parametrize(
    ("variable", "component"), [("OTELCOL_STORAGE_DIR", "otelcol-bundle"), ("JAEGER_BADGER_DIR", "jaeger")]
)
def test_a_data_folder_the_person_named_that_cannot_be_written_is_named_before_anything_starts(
    tmp_path: Path, variable: str, component: str
) -> None:
    """Reported: a read-only OTELCOL_STORAGE_DIR / JAEGER_BADGER_DIR got "... or use a stack dir on
    another disk (OTELBUNDLE_STACK_DIR=DIR)", the variable they set not named, after other
    backends had started."""
    mounted = tmp_path / "read-only"
    mounted.mkdir()
    prefix = read_only(mounted)
    if not prefix:
        pytest.skip("needs a mount namespace of its own (root and unshare) to mount a folder read-only")
    folder = mounted / "data"
    ran, started = up(tmp_path, prefix=prefix, **{variable: str(folder)})
    assert ran.returncode == 1, ran.stdout + ran.stderr
    assert started == [], ran.stdout + ran.stderr
    assert ran.stderr.startswith(
        f"otelbundle stack up: {variable}={folder}: {component} keeps its data there, and it cannot be "
        f"written ({mounted}: the file system is read-only). Make it writable, or set {variable} to a folder "
    ), ran.stderr
    assert "OTELBUNDLE_STACK_DIR" not in ran.stderr


def test_a_binary_variable_naming_no_executable_is_said_once_and_nothing_is_installed(tmp_path: Path) -> None:
    """Reported: "not installed yet ... no OTELBUNDLE_<NAME>_BIN, not on PATH); installing first",
    then "... is not an executable file". Without --no-install: nothing may be installed."""
    missing = tmp_path / "nonexistent"
    marks = tmp_path / "started"
    marks.mkdir()
    fake = tmp_path / "backend"
    fake.write_text(f'#!/bin/sh\ntouch "{marks}/$$"\nexit 3\n')
    fake.chmod(fake.stat().st_mode | stat.S_IEXEC)
    bins = {f"OTELBUNDLE_{name}_BIN": str(fake) for name in NAMES}
    ran = subprocess.run(
        [sys.executable, "-m", "otelbundle.cli", "stack", "up", "--config-root", str(ROOT)],
        env={
            **os.environ,
            **bins,
            "OTELBUNDLE_VICTORIALOGS_BIN": str(missing),
            "OTELBUNDLE_STACK_DIR": str(tmp_path / "data"),
            "OTELBUNDLE_CACHE": str(tmp_path / "cache"),
            # Were it to install anyway, it would find no release host.
            "OTELBUNDLE_DOWNLOAD_URL": "http://127.0.0.1:9/",
        },
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert ran.returncode == 1, ran.stdout + ran.stderr
    assert "not installed yet" not in ran.stdout + ran.stderr
    assert ran.stderr == (
        f"otelbundle stack up: OTELBUNDLE_VICTORIALOGS_BIN={missing} is not an executable file, so victorialogs "
        "cannot be started from it. Point it at the victorialogs binary, or unset it to use the one "
        "`otelbundle stack install victorialogs` obtains. Nothing was started\n"
    )
    assert list(marks.iterdir()) == [] and not (tmp_path / "cache").exists()


@pytest.mark.parametrize("count", ["-1", "17", "250", "two"])
def test_a_gateway_count_out_of_range_is_a_usage_error(tmp_path: Path, count: str) -> None:
    """Reported: --gateways -1 exited 1 where other usage errors exit 2, and no upper bound: from
    about 202 a gateway's ports are the stack's own (9090, 9093, 9428)."""
    ran, started = up(tmp_path, "--gateways", count)
    assert ran.returncode == 2, ran.stdout + ran.stderr
    assert started == []
    assert f"argument --gateways: {count!r}: a whole number from 0 to 16" in ran.stderr, ran.stderr
