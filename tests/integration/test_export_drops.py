"""Real queue-full drops under the wrapper: counted exactly, told in one line, no SDK line per span.

The collector answers slower than the app produces (a listener that never
accepts, 1 s export timeout), and the span and log queues hold 8 items: most
spans are refused at the queue, the rest fail to export. Every span must be in
the summary's count, the queue-full reason must be said once, and the SDK's own
"Queue full" lines must not appear (its queue never overflows).
"""

from __future__ import annotations

import re
import socket
from pathlib import Path

from harness.apps import clean_env, run

WORKLOAD = str(Path(__file__).parent / "programs" / "workload.py")


def test_a_full_queue_under_the_wrapper_is_counted_and_said_once() -> None:
    with socket.socket() as blackhole:
        blackhole.bind(("127.0.0.1", 0))
        blackhole.listen(64)
        env = clean_env(
            {
                "OTEL_SERVICE_NAME": "workload",
                "OTEL_EXPORTER_OTLP_ENDPOINT": f"http://127.0.0.1:{blackhole.getsockname()[1]}",
                "OTEL_EXPORTER_OTLP_TIMEOUT": "1",
                "OTEL_BSP_MAX_QUEUE_SIZE": "8",
                "OTEL_BSP_MAX_EXPORT_BATCH_SIZE": "4",
                "OTEL_BLRP_MAX_QUEUE_SIZE": "8",
                "OTEL_BLRP_MAX_EXPORT_BATCH_SIZE": "4",
                "OTEL_METRIC_EXPORT_INTERVAL": "60000",
                "OTELBUNDLE_SHUTDOWN_TIMEOUT": "15",  # room for the last batches to fail and be counted
            }
        )
        result = run(["python", WORKLOAD, "200"], env, timeout=90)
    stderr = result.stderr
    assert result.returncode == 0 and "WORKLOAD DONE" in result.stdout, stderr
    said = re.findall(r"\d+ spans refused: the in-process queue is full", stderr)
    assert len(said) == 1, stderr
    (summary,) = [line for line in stderr.splitlines() if "telemetry not delivered" in line] or [""]
    dropped = re.search(r"spans=(\d+) dropped", summary)
    # Nothing reached the collector: every span is either refused at the queue or in a failed export.
    assert dropped is not None and int(dropped.group(1)) == 200, stderr
    assert "Queue full" not in stderr, "the SDK's own queue overflowed"
    assert "Traceback" not in stderr, stderr


def test_credentials_in_the_endpoint_or_headers_never_reach_stderr() -> None:
    """A token in the endpoint's user-info and query was in every warning and the summary; one in
    a malformed header entry (``:`` for ``=``) was quoted by the SDK's warning, once per exporter."""
    with socket.socket() as closed:
        closed.bind(("127.0.0.1", 0))
        port = closed.getsockname()[1]
    env = clean_env(
        {
            "OTEL_SERVICE_NAME": "workload",
            "OTEL_EXPORTER_OTLP_ENDPOINT": f"http://user:EndpointSecret1@127.0.0.1:{port}/?sig=QuerySecret2",
            "OTEL_EXPORTER_OTLP_HEADERS": "authorization=Bearer%20HeaderSecret3,x-api-key:HeaderSecret4",
            "OTEL_EXPORTER_OTLP_TIMEOUT": "1",
            "OTEL_METRIC_EXPORT_INTERVAL": "60000",
            "OTELBUNDLE_SHUTDOWN_TIMEOUT": "10",
        }
    )
    result = run(["python", WORKLOAD, "5"], env, timeout=90)
    assert result.returncode == 0 and "WORKLOAD DONE" in result.stdout, result.stderr
    assert "telemetry not delivered to http://***@127.0.0.1" in result.stderr, result.stderr
    assert "Header format invalid" in result.stderr, result.stderr  # the warning stays, without the entry
    output = (result.stdout + result.stderr).encode()
    for secret in (b"EndpointSecret1", b"QuerySecret2", b"HeaderSecret3", b"HeaderSecret4"):
        assert secret not in output, result.stderr


def test_each_signal_is_said_to_fail_where_it_was_sent() -> None:
    """With OTEL_EXPORTER_OTLP_<SIGNAL>_ENDPOINT, the warnings named the general endpoint (the SDK's
    default, ``localhost:4318``, when only per-signal ones were set): the reader went to look at a
    collector nothing had been sent to."""
    ports = []
    for _ in range(2):
        with socket.socket() as closed:
            closed.bind(("127.0.0.1", 0))
            ports.append(closed.getsockname()[1])
    traces = f"http://127.0.0.1:{ports[0]}/v1/traces"
    logs = f"http://user:LogsSecret5@127.0.0.1:{ports[1]}/v1/logs"
    env = clean_env(
        {
            "OTEL_SERVICE_NAME": "workload",
            "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": traces,
            "OTEL_EXPORTER_OTLP_LOGS_ENDPOINT": logs,
            "OTEL_METRICS_EXPORTER": "none",
            "OTEL_EXPORTER_OTLP_TIMEOUT": "1",
            "OTELBUNDLE_SHUTDOWN_TIMEOUT": "10",
        }
    )
    result = run(["python", WORKLOAD, "5"], env, timeout=90)
    stderr = result.stderr
    assert result.returncode == 0 and "WORKLOAD DONE" in result.stdout, stderr
    shown_logs = f"http://***@127.0.0.1:{ports[1]}/v1/logs"
    assert re.search(rf"could not export \d+ spans to {re.escape(traces)}: ", stderr), stderr
    assert re.search(rf"could not export \d+ logs to {re.escape(shown_logs)}: ", stderr), stderr
    (summary,) = [line for line in stderr.splitlines() if "telemetry not delivered" in line] or [""]
    assert re.search(rf"spans=\d+ dropped \(\d+ failed exports\) to {re.escape(traces)}", summary), stderr
    assert re.search(rf"logs=\d+ dropped \(\d+ failed exports\) to {re.escape(shown_logs)}", summary), stderr
    assert "localhost:4318" not in stderr and "LogsSecret5" not in stderr, stderr
