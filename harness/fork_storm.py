"""Run harness/programs/fork_storm.py against an OTLP receiver and count who exported.

Shared by the integration test (tests/integration/test_fork_storm.py) and the
benchmark that compares the SDK's periodic reader with ours (bench/bench_fork_storm.py).
"""

from __future__ import annotations

import json
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from harness.apps import clean_env, run
from harness.otlp_receiver import OtlpReceiver

PROGRAM = str(Path(__file__).resolve().parent / "programs" / "fork_storm.py")


@dataclass(frozen=True)
class StormResult:
    variant: str
    seed: int
    children: tuple[int, ...]
    hung: tuple[int, ...]
    failed: tuple[int, ...]
    exported_any: tuple[int, ...]  # children with any data point at the receiver
    exported_alive: tuple[int, ...]  # ... from a periodic export while alive (not only at exit)
    parent_after: bool  # the parent exported after the storm
    seconds: float

    def line(self) -> str:
        return (
            f"{self.variant:>10}: {len(self.exported_any):2d}/{len(self.children)} children exported "
            f"({len(self.exported_alive):2d} while alive), {len(self.hung)} hung, {len(self.failed)} failed, "
            f"parent exporting after: {'yes' if self.parent_after else 'NO'}, seed {self.seed}, {self.seconds:.1f} s"
        )


def storm_env(receiver: OtlpReceiver, interval_ms: int = 100) -> dict[str, str]:
    return clean_env(
        {
            **receiver.env(),
            "OTEL_METRIC_EXPORT_INTERVAL": str(interval_ms),
            "OTEL_SERVICE_NAME": "fork-storm",
            # Only metrics matter here; the other signals would share the slow receiver.
            "OTEL_TRACES_EXPORTER": "none",
            "OTEL_LOGS_EXPORTER": "none",
            "OTEL_PYTHON_DISABLED_INSTRUMENTATIONS": "system_metrics,otelbundle_health",
        }
    )


def run_storm(
    receiver: OtlpReceiver,
    variant: str,
    *,
    seed: int | None = None,
    children: int = 20,
    extra_args: tuple[str, ...] = (),
    timeout: float = 120.0,
) -> StormResult:
    """``variant``: "configured" (under opentelemetry-instrument, our distro), "sdk" or "otelbundle"."""
    receiver.clear()
    args = [PROGRAM, "--reader", variant, "--children", str(children), *extra_args]
    if seed is not None:
        args += ["--seed", str(seed)]
    started = time.monotonic()
    instrument = variant == "configured"
    done = run(
        [sys.executable if not instrument else "python", *args],
        storm_env(receiver),
        instrument=instrument,
        timeout=timeout,
    )
    seconds = time.monotonic() - started
    lines = [line for line in done.stdout.splitlines() if line.startswith("{")]
    assert done.returncode == 0 and lines, f"exit {done.returncode}\n{done.stdout}\n{done.stderr}"
    report = json.loads(lines[-1])
    pids = {str(pid) for pid in report["children"]}
    with receiver._changed:  # a consistent snapshot of what arrived
        points = [p for p in receiver.metrics if "storm.pid" in p.attributes]
    exported = {str(p.attributes["storm.pid"]) for p in points}
    alive = {str(p.attributes["storm.pid"]) for p in points if p.attributes.get("storm.phase") == "alive"}
    parent = str(report["parent"])
    return StormResult(
        variant=variant,
        seed=int(report["seed"]),
        children=tuple(report["children"]),
        hung=tuple(report["hung"]),
        failed=tuple(report["failed"]),
        exported_any=tuple(sorted(int(p) for p in exported & pids)),
        exported_alive=tuple(sorted(int(p) for p in alive & pids)),
        parent_after=any(
            str(p.attributes["storm.pid"]) == parent and p.attributes.get("storm.phase") == "after"
            for p in points
        ),
        seconds=seconds,
    )
