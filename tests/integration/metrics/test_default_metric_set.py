"""The process, runtime and host metrics a process sends with otelbundle's defaults. Every
instrumented process (each gunicorn worker) sends its own copy of the host's figures, so a
per-device metric costs devices x directions x processes series: none is sent by default.
``system.cpu.utilization`` (per CPU and state) stays while the shipped HostCpuHigh rule and
system dashboard read it (deploy/prometheus/rules/system.yaml)."""

from __future__ import annotations

from pathlib import Path

from harness.apps import clean_env, run
from harness.otlp_receiver import OtlpReceiver

PROGRAM = str(Path(__file__).parent / "programs" / "short_job.py")
SYSTEM_METRICS = "opentelemetry.instrumentation.system_metrics"
EXPECTED = {
    "process.cpu.time",
    "process.cpu.utilization",
    "process.memory.usage",
    "process.thread.count",
    "cpython.gc.collections",
    "cpython.gc.collected_objects",
    "cpython.gc.uncollectable_objects",
    "system.cpu.utilization",
    "system.memory.usage",
    "system.memory.utilization",
}


def test_the_default_set_has_no_per_device_series(otlp_receiver: OtlpReceiver) -> None:
    env = clean_env(
        {
            **otlp_receiver.env(),
            "OTEL_SERVICE_NAME": "short-job",
            "OTEL_TRACES_EXPORTER": "none",
            "OTEL_LOGS_EXPORTER": "none",
        }
    )
    result = run(["python", PROGRAM], env, timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr
    # The exit flush sends the job's one collection; wait for all of it.
    points = otlp_receiver.wait_for(
        lambda rx: (
            [p for p in rx.metrics if p.scope == SYSTEM_METRICS and p.service == "short-job"]
            if rx.points_named("process.cpu.time", "short-job")
            else []
        )
    )
    assert {p.name for p in points} == EXPECTED
    per_device = {p.name for p in points if "device" in p.attributes}
    assert not per_device, f"series per device by default: {sorted(per_device)}"
