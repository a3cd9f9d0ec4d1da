"""What a person must act on is said on the terminal, as a person running the service sees it.

The program has no logging setup of its own: under the distro the root logger has only
the OTLP handler, so a warning on ``otelbundle.alerting`` was exported and shown nowhere
(a reviewer's finding: a rule losing new group keys, a reload that cannot apply a
changed ``notify:``, both silent).
"""

from __future__ import annotations

import textwrap
from pathlib import Path

from harness.apps import clean_env, run
from harness.otlp_receiver import OtlpReceiver

PROGRAM = """
import os, signal, sys, time
from opentelemetry import trace
tracer = trace.get_tracer("routes")
for route in ("/a", "/b", "/c"):
    with tracer.start_as_current_span("GET " + route, attributes={"http.route": route}):
        pass
time.sleep(1.0)  # a tick folds them
config = os.environ["OTELBUNDLE_CONFIG"]
with open(config) as f:
    text = f.read()
with open(config, "w") as f:  # a changed notify: takes a restart
    f.write(text.replace("/first", "/second"))
os.kill(os.getpid(), signal.SIGHUP)
time.sleep(1.5)
print("ROUTES DONE", flush=True)
"""

RULE = """
groups:
  - name: g
    interval: 200ms
    rules:
      - alert: SlowRoutes
        spans: {service: shop}
        expr: count > 1000
        group_by: [http.route]
"""


def test_max_group_keys_and_a_reload_waiting_for_a_restart_are_said_on_stderr(
    otlp_receiver: OtlpReceiver, tmp_path: Path
) -> None:
    (tmp_path / "rules.yaml").write_text(textwrap.dedent(RULE))
    config = tmp_path / "otelbundle.yaml"
    config.write_text(
        "alerting:\n  rule_files: [rules.yaml]\n  max_group_keys: 1\n"
        '  notify:\n    webhook: {url: "http://127.0.0.1:9/first"}\n'
    )
    env = clean_env({**otlp_receiver.env(), "OTEL_SERVICE_NAME": "shop", "OTELBUNDLE_CONFIG": str(config)})
    result = run(["python", "-c", PROGRAM], env, timeout=60)
    assert result.returncode == 0 and "ROUTES DONE" in result.stdout, result.stderr
    lines = result.stderr.splitlines()
    assert (
        "WARNING otelbundle: alert rule 'SlowRoutes' reached max_group_keys (1): spans of new group keys "
        "go to its otel_overflow alert (counted in otelbundle.alerting.spans.overflowed); existing keys still alert"
    ) in lines, result.stderr
    assert (
        f"WARNING otelbundle: alerting.notify changed in {config}; a reload does not apply it: restart the "
        "application (`otelbundle config check` checks it now)"
    ) in lines, result.stderr
    # and, as before, the same lines reach the log store with the app's logs
    otlp_receiver.wait_for(lambda rx: any("reached max_group_keys" in str(r.body) for r in rx.logs))
