"""A webhook that refuses every notification, as a person running the service sees it: on the terminal.

The program has no logging setup of its own (the distro puts only the OTLP
handler on the root logger), the case where a warning on ``otelbundle.alerting``
was exported and shown nowhere: the rule fired, the webhook was down, stderr said
nothing about it.
"""

from __future__ import annotations

from pathlib import Path

from harness.apps import clean_env, free_port, run
from harness.otlp_receiver import OtlpReceiver
from tests.integration.alerting.test_alerting_under_wrapper import PROGRAM, write_config


def test_a_refused_webhook_is_said_on_stderr_and_summed_up_at_exit(
    otlp_receiver: OtlpReceiver, tmp_path: Path
) -> None:
    closed = f"http://127.0.0.1:{free_port()}/hook"  # nothing listens: connection refused
    config = write_config(tmp_path, extra=f'  notify:\n    webhook: {{url: "{closed}"}}\n')
    env = clean_env({**otlp_receiver.env(), "OTEL_SERVICE_NAME": "shop", "OTELBUNDLE_CONFIG": str(config)})
    result = run(["python", PROGRAM, "3", "4"], env, timeout=90)
    assert result.returncode == 0 and "FAILING DONE" in result.stdout, result.stderr
    lines = result.stderr.splitlines()
    failed = [line for line in lines if line.startswith("WARNING otelbundle: alert webhook: ")]
    assert len(failed) == 1 and "Connection refused" in failed[0], result.stderr
    assert "WARNING otelbundle: alert notifications not delivered: webhook: 1 alert failed." in lines, (
        result.stderr
    )
    # and the line on the otelbundle.alerting logger still reaches the log store, with the app's logs
    exported = otlp_receiver.wait_for(
        lambda rx: next((r for r in rx.logs if "webhook: notification failed" in str(r.body)), None)
    )
    assert exported.scope == "otelbundle.alerting" and exported.severity_text == "WARN", exported
