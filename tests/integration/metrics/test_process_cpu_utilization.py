"""process.cpu.utilization is psutil's ``cpu_percent()``: CPU used since the previous call. The
first call has no previous one and answers 0.0, so a process whose first collection is its
only one (a job shorter than the export interval, a worker recycled within it) reported 0 % CPU
however busy it was. Each process's handle is primed when it is created: at instrumentation,
and in every forked child."""

from __future__ import annotations

from pathlib import Path

from harness.apps import clean_env, run
from harness.otlp_receiver import MetricPoint, OtlpReceiver

PROGRAM = str(Path(__file__).parent / "programs" / "busy_processes.py")


def test_busy_processes_report_cpu_on_their_only_collection(otlp_receiver: OtlpReceiver) -> None:
    env = clean_env(
        {
            **otlp_receiver.env(),
            "OTEL_SERVICE_NAME": "busy-job",
            "OTEL_METRIC_EXPORT_INTERVAL": "600000",  # one collection per process: its exit's
            "OTEL_TRACES_EXPORTER": "none",
            "OTEL_LOGS_EXPORTER": "none",
        }
    )
    result = run(["python", PROGRAM], env, timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "DONE 0" in result.stdout, result.stdout + result.stderr

    def one_point_per_process(rx: OtlpReceiver) -> list[MetricPoint]:
        points = rx.points_named("process.cpu.utilization", "busy-job")
        return points if len({p.resource["service.instance.id"] for p in points}) == 2 else []

    points = otlp_receiver.wait_for(one_point_per_process, timeout=60)
    assert len(points) == 2, points  # parent and child, one collection each
    assert all(0 < (p.value or 0) <= 1 for p in points), [p.value for p in points]
