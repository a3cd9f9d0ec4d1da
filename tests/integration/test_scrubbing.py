"""The in-process scrubber, end to end without a collector: app -> exporters -> an OTLP receiver."""

from __future__ import annotations

from pathlib import Path

from harness.apps import clean_env, run
from harness.leaks import (
    KEPT_IN_LOGS,
    KEPT_IN_TRACES,
    PROGRAM,
    env_for,
    leaked_in,
    make_secrets,
    missing_from,
)
from harness.otlp_receiver import OtlpReceiver


def _run(receiver: OtlpReceiver, leaked: dict[str, str], **extra: str) -> tuple[str, str]:
    """Run the leaking program; (text of every span received, text of every log record received)."""
    env = clean_env({**receiver.env(), **env_for(leaked), "OTEL_METRICS_EXPORTER": "none", **extra})
    result = run(["python", str(PROGRAM)], env, timeout=60)
    assert result.returncode == 0, result.stdout + result.stderr
    trace_id = result.stdout.split("TRACE ", 1)[1].split()[0]
    spans = receiver.wait_for(lambda rx: len(found := rx.spans_in_trace(trace_id)) >= 8 and found)
    receiver.wait_for(lambda rx: any("issued jwt" in str(r.body) for r in rx.logs))
    return "\n".join(repr(s) for s in spans), "\n".join(repr(r) for r in receiver.logs)


def test_no_secret_leaves_the_process_and_every_name_stays(otlp_receiver: OtlpReceiver) -> None:
    leaked = make_secrets()
    spans, logs = _run(otlp_receiver, leaked)
    assert not leaked_in(spans, leaked), f"secrets exported in spans: {leaked_in(spans, leaked)}\n{spans}"
    assert not leaked_in(logs, leaked), f"secrets exported in log records: {leaked_in(logs, leaked)}\n{logs}"
    assert not missing_from(spans, KEPT_IN_TRACES), f"lost from spans: {missing_from(spans, KEPT_IN_TRACES)}"
    assert not missing_from(logs, KEPT_IN_LOGS), f"lost from logs: {missing_from(logs, KEPT_IN_LOGS)}"
    # The places the secrets were in are still there, scrubbed: captured headers, the exception event.
    assert "'http.request.header.authorization': '****'" in spans
    assert "'exception.message': '401 Client Error: UNAUTHORIZED for url:" in spans


def test_scrubbing_off_exports_the_secrets(otlp_receiver: OtlpReceiver) -> None:
    """OTELBUNDLE_SCRUB=false: the same program leaks (and the first test is not passing by accident)."""
    leaked = make_secrets()
    spans, logs = _run(otlp_receiver, leaked, OTELBUNDLE_SCRUB="false")
    assert {"api_key", "token", "access_token", "sql_literal"} <= set(leaked_in(spans, leaked))
    assert {"password", "jwt", "aws_key", "github"} <= set(leaked_in(logs, leaked))


def test_otelbundle_yaml_extends_the_rules(otlp_receiver: OtlpReceiver, tmp_path: Path) -> None:
    config = tmp_path / "otelbundle.yaml"
    config.write_text(
        "scrub:\n"
        "  extra_param_names: [fields]\n"
        "  extra_patterns: ['(profile call to )http']\n"
        "  allowed_keys: [http.request.header.x_api_key]\n"
    )
    leaked = make_secrets()
    spans, logs = _run(otlp_receiver, leaked, OTELBUNDLE_CONFIG=str(config))
    assert "fields=REDACTED" in spans and "fields=name" not in spans
    assert "profile call to REDACTED://" in logs
    # allowed_keys: this header is exported as it was, on the user's say-so.
    assert leaked_in(spans, leaked) == {"x_api_key": leaked["x_api_key"]}
    assert not leaked_in(logs, leaked)
