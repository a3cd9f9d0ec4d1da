"""Whatever the app does with logging, each record is exported once and printed once."""

from __future__ import annotations

from pathlib import Path

import pytest

from harness.apps import clean_env, run
from harness.otlp_receiver import OtlpReceiver

PROGRAM = str(Path(__file__).parent / "programs" / "logging_setups.py")


@pytest.mark.parametrize("mode", ["basicConfig", "dictConfig", "own-handler"])
def test_one_handler_one_record_one_line(otlp_receiver: OtlpReceiver, mode: str) -> None:
    env = clean_env({**otlp_receiver.env(), "OTEL_SERVICE_NAME": "logs"})
    result = run(["python", PROGRAM, mode], env, timeout=60)
    assert result.returncode == 0, result.stderr
    assert "OTLP HANDLERS 1" in result.stdout
    printed = (result.stdout + result.stderr).count("the one line")
    assert printed == 1, result.stdout + result.stderr
    span = otlp_receiver.wait_for(lambda rx: next(iter(rx.spans_named("work")), None))
    # The program has exited and flushed: everything it exported is here.
    records = [r for r in otlp_receiver.logs if r.body == "the one line"]
    if mode == "own-handler":
        # propagate=False keeps the record from the root logger, where the OTLP handler lives.
        assert records == []
        return
    assert len(records) == 1 and records[0].trace_id == span.trace_id


def test_stdout_correlation_prints_ids_once_and_exports_no_duplicate_fields(
    otlp_receiver: OtlpReceiver,
) -> None:
    env = clean_env(
        {**otlp_receiver.env(), "OTEL_SERVICE_NAME": "logs", "OTELBUNDLE_LOG_CORRELATION": "true"}
    )
    result = run(["python", PROGRAM, "basicConfig"], env, timeout=60)
    assert result.returncode == 0, result.stderr
    span = otlp_receiver.wait_for(lambda rx: next(iter(rx.spans_named("work")), None))
    lines = [line for line in (result.stdout + result.stderr).splitlines() if "the one line" in line]
    assert (
        len(lines) == 1 and f"trace_id={span.trace_id}" in lines[0] and f"span_id={span.span_id}" in lines[0]
    )
    record = otlp_receiver.wait_for(lambda rx: next((r for r in rx.logs if r.body == "the one line"), None))
    assert record.trace_id == span.trace_id
    assert not [k for k in record.attributes if k.startswith("otel")], record.attributes


def test_fields_mode_gives_the_apps_own_format_the_ids_and_prints_nothing_else(
    otlp_receiver: OtlpReceiver,
) -> None:
    """OTELBUNDLE_LOG_CORRELATION=fields (docs/logging.md): ids in every record, no handler of ours."""
    env = clean_env(
        {**otlp_receiver.env(), "OTEL_SERVICE_NAME": "logs", "OTELBUNDLE_LOG_CORRELATION": "fields"}
    )
    result = run(["python", str(Path(__file__).parent / "programs" / "own_format.py")], env, timeout=60)
    assert result.returncode == 0, result.stderr
    output = result.stdout + result.stderr
    assert "OTELBUNDLE_LOG_CORRELATION" not in output, output  # no "not true or false" warning
    span = otlp_receiver.wait_for(lambda rx: next(iter(rx.spans_named("work")), None))
    lines = [line for line in output.splitlines() if "the one line" in line]
    assert lines == [f"WARNING trace={span.trace_id} span={span.span_id} the one line"], output
    record = otlp_receiver.wait_for(lambda rx: next((r for r in rx.logs if r.body == "the one line"), None))
    assert record.trace_id == span.trace_id
    assert not [k for k in record.attributes if k.startswith("otel")], record.attributes
