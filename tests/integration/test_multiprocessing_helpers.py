"""multiprocessing's resource tracker is not one more instance of the service.

uvicorn --workers (and any use of the spawn start method) starts the tracker with
``python -c "from multiprocessing.resource_tracker import main; ..."``; under the wrapper it
loaded every instrumentation (91 MB resident against 12 MB) and exported system and process
metrics as an instance of its own. The distro now switches the SDK off in that process only.
"""

from __future__ import annotations

import re
from pathlib import Path

from harness.apps import clean_env, run
from harness.otlp_receiver import OtlpReceiver

PROGRAM = str(Path(__file__).parent / "programs" / "spawn_with_tracker.py")


def test_the_resource_tracker_exports_nothing_while_the_app_and_its_worker_do(
    otlp_receiver: OtlpReceiver,
) -> None:
    env = clean_env(
        {**otlp_receiver.env(), "OTEL_SERVICE_NAME": "spawner", "OTEL_METRIC_EXPORT_INTERVAL": "500"}
    )
    result = run(["python", PROGRAM], env, timeout=60)
    assert result.returncode == 0 and "SPAWNER DONE" in result.stdout, result.stderr
    found = re.search(r"TRACKER (\d+) PARENT (\d+)", result.stdout)
    assert found, result.stdout
    tracker, parent = found.groups()

    def pids(rx: OtlpReceiver) -> set[str]:
        return {str(p.resource.get("process.pid")) for p in rx.points_named("process.memory.usage")}

    # The app and its spawned worker export (the worker at its exit): the tracker never.
    seen = otlp_receiver.wait_for(lambda rx: pids(rx) if parent in pids(rx) and len(pids(rx)) >= 2 else None)
    assert tracker not in seen, f"the resource tracker (pid {tracker}) exported metrics: {sorted(seen)}"
    assert "Traceback" not in result.stderr, result.stderr
