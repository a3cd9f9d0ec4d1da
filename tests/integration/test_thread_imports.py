"""No thread of the telemetry imports a module once the app runs.

CPython does not reset its per-module import locks in a forked child: a fork
(gunicorn --preload, multiprocessing) while an export thread is importing a
module leaves that module's lock held for ever in the child, and the child's
exports then block on it (its span, log and metric export threads, and its
flush at exit). ``requests`` imports ``netrc`` on its first request: that
hung 1 worker of 2 in about one gunicorn --preload start of 8–17. The distro
imports such modules while it is configured, on the main thread, before any
fork.
"""

from __future__ import annotations

import json

from harness.apps import BIN, clean_env, run
from harness.otlp_receiver import OtlpReceiver


def test_export_threads_import_nothing_after_start(otlp_receiver: OtlpReceiver) -> None:
    env = clean_env(
        {
            **otlp_receiver.env(),
            "OTEL_SERVICE_NAME": "thread-imports",
            "OTEL_BSP_SCHEDULE_DELAY": "100",
            "OTEL_BLRP_SCHEDULE_DELAY": "100",
            "OTEL_METRIC_EXPORT_INTERVAL": "200",
        }
    )
    result = run(
        [str(BIN / "python"), "tests/integration/programs/thread_imports.py", "1.5"],
        env,
        instrument=False,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    # The exports happened (so the threads did their first requests while watched)...
    assert otlp_receiver.wait_for(lambda rx: rx.spans and rx.logs and rx.metrics, timeout=10)
    # ...and imported nothing doing so.
    assert json.loads(result.stdout.strip().splitlines()[-1]) == []
