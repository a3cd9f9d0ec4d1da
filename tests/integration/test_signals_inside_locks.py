"""Our signal handlers must not hang the app when the signal lands inside one of our locks.

Reported: a burst of SIGHUPs froze an app's main thread (py-spy: the handler's Event.set
waiting for the lock the interrupted Event.set held), and SIGTERM could then not end it.
``programs/signal_inside_lock.py`` holds the alert engine's wake lock on the main thread and
signals itself, so the case is met every run, not by chance.
"""

from __future__ import annotations

import signal
import textwrap
from pathlib import Path

from harness.apps import clean_env, run
from harness.otlp_receiver import OtlpReceiver

PROGRAM = str(Path(__file__).parent / "programs" / "signal_inside_lock.py")


def _env(receiver: OtlpReceiver, folder: Path) -> tuple[dict[str, str], Path]:
    rules = folder / "rules.yaml"
    rules.write_text(
        textwrap.dedent(
            """\
            groups:
              - name: g
                interval: 200ms
                rules:
                  - {alert: First, spans: {service: sig}, expr: error_count > 0}
            """
        )
    )
    (folder / "otelbundle.yaml").write_text("alerting:\n  rule_files: [rules.yaml]\n")
    env = clean_env(
        {
            **receiver.env(),
            "OTEL_SERVICE_NAME": "sig",
            "OTELBUNDLE_CONFIG": str(folder / "otelbundle.yaml"),
            "OTEL_BSP_SCHEDULE_DELAY": "60000",  # the spans leave only with the flush at SIGTERM
        }
    )
    return env, rules


def test_sighup_inside_the_engines_lock_reloads_and_the_app_goes_on(
    otlp_receiver: OtlpReceiver, tmp_path: Path
) -> None:
    env, rules = _env(otlp_receiver, tmp_path)
    result = run(["python", PROGRAM, "hup", str(rules)], env, timeout=60)
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["ALIVE", "RELOADED"], result.stdout + result.stderr


def test_sigterm_inside_the_engines_lock_flushes_and_dies_of_sigterm(
    otlp_receiver: OtlpReceiver, tmp_path: Path
) -> None:
    env, rules = _env(otlp_receiver, tmp_path)
    result = run(["python", PROGRAM, "term", str(rules)], env, timeout=60)
    assert result.returncode == -signal.SIGTERM, (result.returncode, result.stdout, result.stderr)
    assert "NOT KILLED" not in result.stdout
    otlp_receiver.wait_for(lambda rx: len([s for s in rx.spans if s.name.startswith("before-term-")]) == 3)
