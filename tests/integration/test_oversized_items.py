"""One span and one log record too big for the real collector (its 20 MiB request limit) are lost
alone: the 39 ordinary spans and records exported in the same batches reach the backend, and the
app says which item was refused and why, once per signal, and counts it at exit.

Also when the item is over the OTLP exporter's own limit (64 MiB: it dropped the whole batch
unsent) and when requests are gzipped (the refused body was then small, and counted as malformed)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from harness.apps import clean_env, run
from harness.collector import shipped_processors
from harness.otlp_receiver import OtlpReceiver

PROGRAM = str(Path(__file__).parent / "programs" / "oversized.py")


@pytest.mark.parametrize(
    ("megabytes", "compression"),
    [("25", "none"), ("70", "none"), ("25", "gzip")],
    ids=["25MB", "70MB", "gzip"],
)
def test_an_item_over_the_collectors_request_limit_is_lost_alone(
    tmp_path: Path, megabytes: str, compression: str
) -> None:
    receiver = OtlpReceiver().start()
    try:
        with shipped_processors(tmp_path, ["batch"], ["traces", "logs"], receiver.http_endpoint) as url:
            env = clean_env(
                {
                    "OTEL_SERVICE_NAME": "oversized",
                    "OTEL_EXPORTER_OTLP_ENDPOINT": url,
                    "OTEL_METRICS_EXPORTER": "none",
                    "OTEL_EXPORTER_OTLP_COMPRESSION": compression,
                    # Room to encode and send 70 MB at exit on a loaded machine.
                    "OTELBUNDLE_SHUTDOWN_TIMEOUT": "60",
                }
            )
            result = run(["python", PROGRAM, megabytes], env, timeout=180)
            assert result.returncode == 0 and "OVERSIZED DONE" in result.stdout, result.stderr
            receiver.wait_for(lambda r: len(r.spans) >= 39 and len(r.logs) >= 39, timeout=30)
    finally:
        receiver.stop()
    assert sorted(s.name for s in receiver.spans) == sorted(f"ordinary-{i}" for i in range(40) if i != 20)
    assert len(receiver.logs) == 39
    stderr = result.stderr
    for one in ("span", "log record"):
        assert re.search(
            rf"could not export 1 \w+ to \S+: the collector refused a {one} of {megabytes}\.\d MB as too large "
            r"\(HTTP 400\); what was sent with it went again in smaller requests",
            stderr,
        ), stderr
    assert "spans=1 dropped" in stderr and "logs=1 dropped" in stderr, stderr
    assert "Traceback" not in stderr, stderr
