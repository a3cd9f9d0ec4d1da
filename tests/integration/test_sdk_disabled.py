"""OTEL_SDK_DISABLED=true: the specification's off switch turns otelbundle off too.

The SDK's providers then hand out no-op tracers, but otelbundle's configurator still
started its export, log translation and metric threads, the alert engine, the health
checks and their probe server, and warned about the service name.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from harness.apps import clean_env, free_port, run
from harness.otlp_receiver import OtlpReceiver

PROGRAM = str(Path(__file__).parent / "programs" / "report_started.py")
RULES = """\
groups:
  - name: g
    rules:
      - {alert: Errors, expr: error_count > 0}
"""


def config(tmp_path: Path, port: int) -> str:
    (tmp_path / "rules.yaml").write_text(RULES)
    path = tmp_path / "otelbundle.yaml"
    path.write_text(
        "alerting:\n  rule_files: [rules.yaml]\n"
        f"health:\n  http: {{port: {port}}}\n  checks:\n"
        "    - {name: disk, kind: system, resource: disk, path: /, warning: 99%, critical: 100%}\n"
    )
    return str(path)


def started(stdout: str) -> tuple[set[str], str]:
    threads = stdout.split("THREADS ", 1)[1].split("\n", 1)[0]
    return set(threads.split(",")), stdout.split("HEALTH PORT ", 1)[1].split()[0]


@pytest.mark.parametrize("how", ["wrapper", "configure"])
def test_nothing_of_otelbundle_starts_when_the_sdk_is_disabled(
    how: str, tmp_path: Path, otlp_receiver: OtlpReceiver
) -> None:
    port = free_port()
    base = {**otlp_receiver.env(), "OTEL_SERVICE_NAME": "off", "OTELBUNDLE_CONFIG": config(tmp_path, port)}
    command = ["python", PROGRAM, str(port), *(["configure"] if how == "configure" else [])]

    # The setup starts all of it when the SDK is on (what the switch must turn off).
    enabled = run(command, clean_env(base), instrument=how == "wrapper", timeout=60)
    assert enabled.returncode == 0, enabled.stderr
    threads, health_port = started(enabled.stdout)
    assert len(threads) > 3 and health_port == "open", enabled.stdout
    otlp_receiver.wait_for(lambda rx: rx.spans_named("started-work"))
    otlp_receiver.clear()

    disabled = run(
        command,
        clean_env({**base, "OTEL_SDK_DISABLED": "True"}),  # any case, as the SDK reads it
        instrument=how == "wrapper",
        timeout=60,
    )
    assert disabled.returncode == 0, disabled.stderr
    assert started(disabled.stdout) == ({"MainThread"}, "closed"), disabled.stdout
    assert "otelbundle" not in disabled.stderr, disabled.stderr
    # The process has exited: anything it exported has arrived.
    assert otlp_receiver.requests == {"traces": 0, "metrics": 0, "logs": 0}, otlp_receiver.requests
