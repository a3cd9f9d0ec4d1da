"""What the shipped collector config does to a log record's stack trace on its way to the log store.

docs/logging.md ("Stack traces in the log store") says ``transform/log-store`` always moves
``exception.stacktrace`` to the end of the body and deletes the attribute,
whatever its size, cuts other attribute values to 4 KiB and the body to 256 KiB. It is the
same for VictoriaLogs and Loki. This runs our collector build with that processor, taken
unchanged from otel-collector/config.yaml, between an OTLP receiver and the in-process one.
"""

from __future__ import annotations

import json
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from harness.collector import shipped_processors
from harness.otlp_receiver import OtlpReceiver

STACKTRACE = 'Traceback (most recent call last):\n  File "app.py", line 3, in <module>\nValueError: short'


@pytest.fixture
def collector(tmp_path: Path, otlp_receiver: OtlpReceiver) -> Iterator[str]:
    """Our collector: OTLP/HTTP in on a free port → transform/log-store → the in-process receiver."""
    with shipped_processors(tmp_path, ["transform/log-store"], ["logs"], otlp_receiver.http_endpoint) as url:
        yield f"{url}/v1/logs"


def _post_log(url: str, attributes: dict[str, str], message: str = "checkout failed") -> None:
    body = {
        "resourceLogs": [
            {
                "resource": {"attributes": [{"key": "service.name", "value": {"stringValue": "docs-test"}}]},
                "scopeLogs": [
                    {
                        "logRecords": [
                            {
                                "body": {"stringValue": message},
                                "severityText": "ERROR",
                                "attributes": [
                                    {"key": key, "value": {"stringValue": value}}
                                    for key, value in attributes.items()
                                ],
                            }
                        ]
                    }
                ],
            }
        ]
    }
    request = urllib.request.Request(
        url, data=json.dumps(body).encode(), headers={"Content-Type": "application/json"}, method="POST"
    )
    # The collector may not listen yet right after start: retry until it answers.
    deadline = time.monotonic() + 30
    while True:
        try:
            with urllib.request.urlopen(request, timeout=5) as response:
                assert response.status == 200
                return
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.2)


def test_a_short_stack_trace_moves_into_the_body_and_long_values_are_cut(
    collector: str, otlp_receiver: OtlpReceiver
) -> None:
    _post_log(
        collector, {"exception.stacktrace": STACKTRACE, "exception.type": "ValueError", "note": "x" * 5000}
    )
    (record,) = otlp_receiver.wait_for(lambda r: list(r.logs), timeout=30)
    assert record.body == f"checkout failed\n{STACKTRACE}", record.body
    assert "exception.stacktrace" not in record.attributes, record.attributes
    assert record.attributes["exception.type"] == "ValueError"
    assert len(record.attributes["note"]) == 4096, len(record.attributes["note"])


def test_a_huge_line_is_cut_to_256_kib_after_its_stack_trace_is_added(
    collector: str, otlp_receiver: OtlpReceiver
) -> None:
    """VictoriaLogs drops an entry over 2 MB and Loki refuses a push with a line over 256 KiB."""
    _post_log(collector, {"exception.stacktrace": STACKTRACE}, message="y" * 300_000)
    (record,) = otlp_receiver.wait_for(lambda r: list(r.logs), timeout=30)
    assert isinstance(record.body, str) and len(record.body) == 262_144, len(str(record.body))
    assert record.body == "y" * 262_144
    assert "exception.stacktrace" not in record.attributes


def test_a_huge_line_is_cut_before_a_character_that_spans_the_limit_not_inside_it(
    collector: str, otlp_receiver: OtlpReceiver
) -> None:
    """A byte cut (OTTL Substring) left half of a two-byte character at the end: the store kept a
    line that is not UTF-8, and a strict OTLP receiver (this one) refused the whole request."""
    message = "a" + "é" * 150_000  # 300 001 bytes; byte 262 144 is the first half of an "é"
    _post_log(collector, {}, message=message)
    (record,) = otlp_receiver.wait_for(lambda r: list(r.logs), timeout=30)
    assert isinstance(record.body, str)
    assert record.body == "a" + "é" * 131_071, len(record.body.encode())
    assert len(record.body.encode()) == 262_143
