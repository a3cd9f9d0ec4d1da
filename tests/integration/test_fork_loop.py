"""Forks in a tight loop while threads log and end spans: no child deadlocks on a lock of ours.

Each part that runs threads (the span and log export queues, the log translator,
the alert engine) re-creates its locks in the child (src/otelbundle/sdk/forking.py);
a fork while a busy thread holds one must leave the child able to log, end a span
and flush. 150 forks of this kind hung none (0 of 150); 30 keep the test short.
"""

from __future__ import annotations

import json
from pathlib import Path

from harness.apps import clean_env, run
from harness.otlp_receiver import OtlpReceiver

PROGRAM = str(Path(__file__).parent / "programs" / "fork_loop.py")
FORKS = 30
RULES = """\
groups:
  - name: fork-loop
    interval: 1s
    rules:
      - alert: Busy
        spans: {service: fork-loop}
        expr: count > 1
        window: 1m
        for: 0s
"""


def test_children_forked_while_threads_log_and_end_spans_log_flush_and_exit(
    otlp_receiver: OtlpReceiver, tmp_path: Path
) -> None:
    (tmp_path / "rules.yaml").write_text(RULES)
    (tmp_path / "otelbundle.yaml").write_text('alerting:\n  rule_files: ["rules.yaml"]\n')
    env = clean_env(
        {
            **otlp_receiver.env(),
            "OTEL_SERVICE_NAME": "fork-loop",
            "OTELBUNDLE_CONFIG": str(tmp_path / "otelbundle.yaml"),
            "OTEL_BSP_SCHEDULE_DELAY": "50",
            "OTEL_BLRP_SCHEDULE_DELAY": "50",
        }
    )
    result = run(["python", PROGRAM, str(FORKS)], env, timeout=600)
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout.splitlines()[-1])
    assert report == {"not_ok": {}}, result.stderr
    assert "Traceback" not in result.stderr, result.stderr

    def children(rx: OtlpReceiver) -> set[int]:
        return {int(s.attributes["fork.index"]) for s in rx.spans_named("child")}

    otlp_receiver.wait_for(lambda rx: children(rx) == set(range(FORKS)), timeout=30)
