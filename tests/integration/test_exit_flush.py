"""The exit flush: not cut short by SIGTERM.

Each case runs a real program under opentelemetry-instrument; the subprocess
timeout only guards against a hang.
"""

from __future__ import annotations

from pathlib import Path

from harness.apps import clean_env, run
from harness.otlp_receiver import OtlpReceiver

POOL = str(Path(__file__).parent / "programs" / "pool_exit.py")
# Leaving `with Pool()` SIGTERMs workers that may be flushing. Before the fix 7 runs in 12 lost
# spans: four clean runs in a row (about 3 s each) happen by chance 3 times in 100.
POOL_RUNS = 4
TASKS = 4


def test_pool_workers_terminated_during_their_exit_flush_deliver_every_span_and_log(
    otlp_receiver: OtlpReceiver,
) -> None:
    env = clean_env({**otlp_receiver.env(), "OTEL_SERVICE_NAME": "pool"})
    for run_id in range(POOL_RUNS):
        result = run(["python", POOL, str(run_id)], env, timeout=60)
        assert result.returncode == 0 and "POOL DONE" in result.stdout, result.stderr
        assert "Traceback" not in result.stderr, result.stderr
    # The workers have exited (Pool.terminate joins them): whatever they flushed is here already.
    expected = {(str(run_id), task) for run_id in range(POOL_RUNS) for task in range(TASKS)}

    def spans(rx: OtlpReceiver) -> set[tuple[str, int]]:
        return {(s.attributes["pool.run"], s.attributes["pool.index"]) for s in rx.spans_named("pool-work")}

    def logs(rx: OtlpReceiver) -> int:
        return len([r for r in rx.logs if str(r.body).startswith("pool run")])

    try:
        otlp_receiver.wait_for(lambda rx: spans(rx) == expected and logs(rx) == len(expected), timeout=5)
    except AssertionError:
        missing = sorted(expected - spans(otlp_receiver))
        raise AssertionError(
            f"spans lost (run, task): {missing}; logs {logs(otlp_receiver)} of {len(expected)}"
        ) from None
