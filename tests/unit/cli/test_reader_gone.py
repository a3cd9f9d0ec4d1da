"""Every ``otelbundle`` command printing into a reader that is gone (``| head``) stops quietly.

It used to end in a BrokenPipeError traceback (or, when the text was still in Python's buffer,
"Exception ignored ... BrokenPipeError" and exit 120) for every command but `stack status`,
`stack logs`, `stack config` and `logs`, which exited 0. Now one handler in ``cli.main`` does it
for all, with the status a shell shows for a program killed by SIGPIPE.

The reader is closed before the command starts, so no write can get through first, whatever
the timing; both with Python's output buffered (a person's shell) and unbuffered
(``PYTHONUNBUFFERED``, set on some CI machines), since they fail at different places.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.unit.cli.test_logs import TRACE_ID, FakeLoki

ROOT = Path(__file__).resolve().parents[3]
RULES = ROOT / "examples" / "rules"
READER_GONE = 141  # 128 + SIGPIPE: what a shell shows for a program killed by SIGPIPE


@pytest.fixture(params=["buffered", "unbuffered"])
def environment(request: pytest.FixtureRequest, tmp_path: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k != "PYTHONUNBUFFERED"}
    if request.param == "unbuffered":
        env["PYTHONUNBUFFERED"] = "1"
    log = tmp_path / "logs" / "jaeger.log"
    log.parent.mkdir()
    log.write_text("a line of jaeger's log\n" * 10)
    env["OTELBUNDLE_STACK_DIR"] = str(tmp_path)
    return env


@pytest.fixture
def loki() -> Iterator[FakeLoki]:
    server = FakeLoki()
    server.answer("trace.json")
    yield server
    server.close()


def into_closed_pipe(args: list[str], env: dict[str, str], stderr_too: bool = False) -> tuple[int, str]:
    """Run ``otelbundle ARGS`` with stdout (and stderr, if asked) a pipe nobody reads any more:
    (exit status, what it wrote on stderr)."""
    reader, writer = os.pipe()
    os.close(reader)
    try:
        done = subprocess.run(
            [sys.executable, "-m", "otelbundle.cli", *args],
            stdout=writer,
            stderr=writer if stderr_too else subprocess.PIPE,
            cwd=ROOT,
            env=env,
            timeout=120,
        )
    finally:
        os.close(writer)
    return done.returncode, (done.stderr or b"").decode()


COMMANDS = {
    "rules check": ["rules", "check", str(RULES / "storefront.rules.yaml")],
    "rules test": ["rules", "test", str(RULES / "storefront.rules.test.yaml")],
    "config check": ["config", "check", str(RULES / "otelbundle.yaml")],
    "slo generate": ["slo", "generate", str(RULES / "checkout.slos.yaml"), "--prometheus", "-"],
    "stack config": ["stack", "config", "collector"],
    "stack logs": ["stack", "logs", "jaeger"],
    "stack status": ["stack", "status"],
}


@pytest.mark.parametrize("command", COMMANDS)
def test_a_command_whose_reader_is_gone_exits_141_without_a_word(
    command: str, environment: dict[str, str]
) -> None:
    status, stderr = into_closed_pipe(COMMANDS[command], environment)
    assert stderr == ""
    assert status == READER_GONE


def test_logs_whose_reader_is_gone_exits_141_without_a_word(
    environment: dict[str, str], loki: FakeLoki
) -> None:
    status, stderr = into_closed_pipe(["logs", "--trace-id", TRACE_ID, "--loki", loki.url], environment)
    assert loki.requests, "the lines were read before they were printed"
    assert (status, stderr) == (READER_GONE, "")


def test_problems_printed_on_stderr_into_the_same_closed_pipe_end_quietly_too(
    environment: dict[str, str], tmp_path: Path
) -> None:
    """``rules check BAD 2>&1 | head -1``: the problems go to stderr, the first one to fail."""
    bad = tmp_path / "bad.rules.yaml"
    bad.write_text("groups:\n" + "".join(f"  - name: g{i}\n    rules: 7\n" for i in range(50)))
    assert into_closed_pipe(["rules", "check", str(bad)], environment, stderr_too=True) == (READER_GONE, "")


@pytest.mark.parametrize("args", [["--help"], ["rules", "check", "--help"], ["--version"]])
def test_help_into_a_closed_pipe_keeps_argparses_status(args: list[str], environment: dict[str, str]) -> None:
    """argparse itself ignores a failed write of its help from Python 3.11 on: its exit status 0
    stays. Python 3.10's argparse lets the broken pipe through when stdout is unbuffered (the
    quiet 141 of every command); buffered, the write fails at exit, after argparse's 0."""
    status, stderr = into_closed_pipe(args, environment)
    assert stderr == ""
    assert status == 0 if sys.version_info >= (3, 11) else status in (0, READER_GONE)


def test_reading_the_start_of_more_than_a_pipe_holds(environment: dict[str, str]) -> None:
    """``otelbundle rules check`` of many files, ``| head -1``: 140 kB into a 64 kB pipe, so the
    command is still writing when the reader stops, however fast either side runs."""
    files = [str(RULES / "storefront.rules.yaml")] * 2000
    with subprocess.Popen(
        [sys.executable, "-m", "otelbundle.cli", "rules", "check", *files],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        cwd=ROOT,
        env=environment,
    ) as command:
        assert command.stdout is not None and command.stderr is not None
        first = command.stdout.readline()
        command.stdout.close()
        stderr = command.stderr.read()
        status = command.wait(timeout=120)
    assert first == f"Checking {files[0]}\n".encode()
    assert (status, stderr) == (READER_GONE, b"")


def test_follow_with_nothing_new_to_print_stops_when_its_reader_is_gone(environment: dict[str, str]) -> None:
    """``otelbundle logs -f … | grep -m1 X``: once grep has its match and exits, follow ends with 141,
    as docs/logging.md says, although no new line ever comes to fail a write (it polled for ever)."""
    server = FakeLoki()
    server.answer("empty.json")
    try:
        reader, writer = os.pipe()
        os.close(reader)
        try:
            with subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "otelbundle.cli",
                    "logs",
                    "-f",
                    "--trace-id",
                    TRACE_ID,
                    "--loki",
                    server.url,
                ],
                stdout=writer,
                stderr=subprocess.PIPE,
                cwd=ROOT,
                env=environment,
            ) as command:
                assert command.stderr is not None
                try:
                    # A deadline many polls (1 s each) long; the old code never returned.
                    status = command.wait(timeout=60)
                except subprocess.TimeoutExpired:
                    command.kill()
                    pytest.fail("logs -f kept polling after the reader of its output was gone")
                stderr = command.stderr.read().decode()
        finally:
            os.close(writer)
    finally:
        server.close()
    assert status == READER_GONE, stderr
    assert "waiting for new ones" in stderr
    assert server.requests, "the lines so far were asked for before it stopped"
