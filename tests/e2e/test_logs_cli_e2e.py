"""``otelbundle logs`` as a person types it, reading what the real collector put into the real
VictoriaLogs (the stack's log store, which the command finds from the stack's recorded choice)."""

from __future__ import annotations

import json
import os
import secrets
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import IO

from harness.apps import ExampleServices
from otelbundle.cli.stack import Stack
from tests.e2e.conftest import checkout

OTELBUNDLE = Path(sys.executable).parent / "otelbundle"
# The defaults a person has: no store or URL named, the stack's data folder (whose recorded
# choice, VictoriaLogs, the command reads).
ENV = {
    k: v
    for k, v in os.environ.items()
    if k
    not in (
        "OTELBUNDLE_LOKI_URL",
        "OTELBUNDLE_VICTORIALOGS_URL",
        "OTELBUNDLE_LOG_STORE",
        "OTELBUNDLE_STACK_DIR",
    )
}


def env_of(stack: Stack) -> dict[str, str]:
    return {**ENV, "OTELBUNDLE_STACK_DIR": str(stack.data_dir)}


def logs(stack: Stack, *argv: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(OTELBUNDLE), "logs", *argv], capture_output=True, text=True, timeout=60, env=env_of(stack)
    )


def logs_until(
    stack: Stack, *argv: str, wanted: tuple[str, ...], timeout: float = 60
) -> subprocess.CompletedProcess[str]:
    """Run the command until its output has every wanted text (lines reach the store in seconds)."""
    end = time.monotonic() + timeout
    while True:
        done = logs(stack, *argv)
        if all(text in done.stdout for text in wanted) or time.monotonic() > end:
            return done
        time.sleep(1)


def test_a_checkouts_lines_from_both_services_by_trace_id(stack: Stack, services: ExampleServices) -> None:
    done = checkout(services, sku="APPLE")
    assert done.status == 200
    wanted = ("checkout of 1 x APPLE", "reserved 1 x APPLE")
    assert stack.logs == "victorialogs"
    result = logs_until(stack, "--trace-id", done.trace_id, wanted=wanted)
    assert result.returncode == 0, result
    assert all(text in result.stdout for text in wanted), (
        f"expected the lines {wanted} of trace {done.trace_id}, got:\n{result.stdout}{result.stderr}"
    )
    lines = result.stdout.splitlines()
    storefront = next(line for line in lines if line.endswith("checkout of 1 x APPLE"))
    inventory = next(line for line in lines if line.endswith("reserved 1 x APPLE"))
    short = done.trace_id[:8]
    assert f" storefront INFO  {short}/" in storefront, storefront
    assert f" inventory  INFO  {short}/" in inventory, inventory
    assert lines.index(storefront) < lines.index(inventory), (
        "oldest first: storefront logs before it calls inventory"
    )
    assert all(f" {short}/" in line for line in lines if not line.startswith(" ")), lines

    only_inventory = logs(stack, "--trace-id", done.trace_id, "--service", "inventory", "--raw")
    records = [json.loads(line) for line in only_inventory.stdout.splitlines()]
    assert records, only_inventory
    assert {r["labels"]["service.name"] for r in records} == {"inventory"}
    assert {r["metadata"]["trace_id"] for r in records} == {done.trace_id}
    assert "reserved 1 x APPLE" in [r["line"] for r in records]


class Reader:
    """Collects a pipe's lines in a thread, so the test can wait for one while the command runs."""

    def __init__(self, pipe: IO[str] | None) -> None:
        self.lines: list[str] = []
        self.changed = threading.Condition()
        self.thread = threading.Thread(target=self._read, args=(pipe,), daemon=True)
        self.thread.start()

    def _read(self, pipe: IO[str] | None) -> None:
        for line in pipe or ():
            with self.changed:
                self.lines.append(line.rstrip("\n"))
                self.changed.notify_all()

    def wait_for(self, text: str, count: int = 1, timeout: float = 60) -> bool:
        with self.changed:
            return self.changed.wait_for(
                lambda: sum(text in line for line in self.lines) >= count, timeout=timeout
            )


def test_follow_prints_a_line_logged_after_it_started_once_and_stops_on_sigint(
    stack: Stack, services: ExampleServices
) -> None:
    sku = "FOLLOW" + secrets.token_hex(4).upper()  # an unknown sku: storefront logs it twice
    process = subprocess.Popen(
        [str(OTELBUNDLE), "logs", "-f", "--service", "storefront", "--grep", sku, "--since", "5m"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env_of(stack),
    )
    out, err = Reader(process.stdout), Reader(process.stderr)
    try:
        # Printed after the first query found nothing: from here on, lines can only come from polling.
        assert err.wait_for("waiting for new ones", timeout=30), err.lines
        assert checkout(services, sku=sku).status == 404
        assert out.wait_for(f"checkout of 1 x {sku}") and out.wait_for(f"checkout of unknown sku {sku}"), (
            f"follow did not print the new lines within 60 s; stdout {out.lines}, stderr {err.lines}"
        )
        time.sleep(3)  # three more polls, which see the same lines again
        process.send_signal(signal.SIGINT)
        code = process.wait(timeout=10)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    out.thread.join(5)
    err.thread.join(5)
    assert code == 0, f"exit {code} on SIGINT; stderr {err.lines}"
    assert not any("Traceback" in line for line in err.lines), err.lines
    assert [line.split(maxsplit=4)[4] for line in out.lines] == [
        f"checkout of 1 x {sku}",
        f"checkout of unknown sku {sku}",
    ]
    assert " storefront WARN  " in out.lines[1], out.lines[1]
