"""A log rule in a real application under opentelemetry-instrument: ERROR records logged by the app
reach the rule through the log intake, the alert reaches a webhook and links the records' trace."""

from __future__ import annotations

import subprocess
import textwrap
import time
from pathlib import Path

from harness.apps import BIN, ROOT, clean_env
from harness.http_sink import Sink

RULES = """
groups:
  - name: payments
    interval: 1m                       # the alert can only come early through the records
    rules:
      - alert: PaymentsDeadlocks
        logs: {service: payments, severity: ">= ERROR", logger: "payments.*", where: 'body =~ "deadlock"'}
        expr: count > 2
        window: 1m
        labels: {severity: page}
"""


def test_error_records_fire_a_log_rule_that_links_their_trace(tmp_path: Path) -> None:
    (tmp_path / "rules.yaml").write_text(textwrap.dedent(RULES))
    sink = Sink()
    (tmp_path / "otelbundle.yaml").write_text(
        "alerting:\n  rule_files: [rules.yaml]\n"
        '  generator_url: "http://jaeger.example/trace/{{ $exemplar.trace_id }}"\n'
        f"  notify:\n    webhook: {{url: '{sink.url}/hook'}}\n"
    )
    env = clean_env(
        {
            "OTELBUNDLE_CONFIG": str(tmp_path / "otelbundle.yaml"),
            "OTEL_SERVICE_NAME": "payments",
            "OTEL_TRACES_EXPORTER": "none",
            "OTEL_METRICS_EXPORTER": "none",
            "OTEL_LOGS_EXPORTER": "none",
        }
    )
    app = subprocess.Popen(
        [
            str(BIN / "opentelemetry-instrument"),
            str(BIN / "python"),
            str(ROOT / "harness/programs/log_errors.py"),
        ],
        env=env,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        cwd=str(ROOT),
    )
    try:
        assert app.stdin is not None and app.stdout is not None
        assert app.stdout.readline().strip() == "READY"
        time.sleep(1.0)  # the engine thread is up and has evaluated once
        app.stdin.write("order-17\n")
        app.stdin.flush()
        _, trace_id, logged_at = app.stdout.readline().split()
        assert sink.received.wait(20), "no alert reached the webhook"
        received = time.time()
        _path, _headers, body = sink.requests[0]
        alert = body["alerts"][0]
        print(f"\nlog rule: {received - float(logged_at):.3f} s from the records to the webhook")
        assert alert["labels"]["alertname"] == "PaymentsDeadlocks" and alert["status"] == "firing"
        assert alert["generatorURL"] == f"http://jaeger.example/trace/{trace_id}"
        # Long before the group's 1-minute tick: the records woke the engine.
        assert received - float(logged_at) < 30
    finally:
        if app.stdin is not None:
            app.stdin.close()
        app.wait(15)
        sink.close()
