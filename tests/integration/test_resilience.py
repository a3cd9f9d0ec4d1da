"""The app is never harmed by its telemetry: collector down, blackholed, or misconfigured.

Each case runs a real program under opentelemetry-instrument. Exit-time bounds
are not asserted as timings here (bench/ measures them); the subprocess timeout
only guards against a hang.
"""

from __future__ import annotations

import re
import socket
from pathlib import Path

import pytest

from harness.apps import clean_env, free_port, run, start
from harness.otlp_receiver import OtlpReceiver

WORKLOAD = str(Path(__file__).parent / "programs" / "workload.py")


def _workload_env(endpoint: str, **extra: str) -> dict[str, str]:
    return clean_env(
        {
            "OTEL_SERVICE_NAME": "workload",
            "OTEL_EXPORTER_OTLP_ENDPOINT": endpoint,
            "OTEL_BSP_SCHEDULE_DELAY": "100",
            "OTEL_BLRP_SCHEDULE_DELAY": "100",
            "OTEL_METRIC_EXPORT_INTERVAL": "60000",
            **extra,
        }
    )


def _assert_reported_once(stderr: str, spans: int) -> None:
    assert "Traceback" not in stderr, stderr
    assert len(re.findall(r"could not export \d+ spans", stderr)) == 1, stderr
    assert len(re.findall(r"could not export \d+ logs", stderr)) == 1, stderr
    summary = [line for line in stderr.splitlines() if "telemetry not delivered" in line]
    assert len(summary) == 1, stderr
    # Every span is accounted for: dropped after its export failed, or still queued when the
    # exit flush's deadline passed. Which of the two depends on when the first export left:
    # on a loaded machine it leaves with the first spans, and its retries (up to the exporter's
    # timeout) outlast the flush ("spans=10 dropped (1 failed exports) and 30 not flushed").
    dropped = re.search(r"spans=(\d+) dropped", summary[0])
    held = re.search(r"spans=(?:\d+ dropped \([^)]*\) and )?(\d+) not flushed", summary[0])
    assert dropped or held, summary[0]
    assert (int(dropped[1]) if dropped else 0) + (int(held[1]) if held else 0) == spans, summary[0]
    sdk_lines = [
        line
        for line in stderr.splitlines()
        if line.startswith(("WARNING opentelemetry", "ERROR opentelemetry"))
    ]
    assert sdk_lines == [], sdk_lines  # the SDK's per-batch messages are folded into the report
    assert "recursive logging" not in stderr, stderr


def test_collector_port_closed(tmp_path: Path) -> None:
    result = run(["python", WORKLOAD, "40"], _workload_env(f"http://127.0.0.1:{free_port()}"), timeout=60)
    assert result.returncode == 0, result.stderr
    assert "WORKLOAD DONE" in result.stdout
    _assert_reported_once(result.stderr, spans=40)


def test_collector_blackholed_accepts_but_never_answers() -> None:
    # A listener that never accept()s: connects succeed (kernel backlog), requests never answer.
    with socket.socket() as blackhole:
        blackhole.bind(("127.0.0.1", 0))
        blackhole.listen(64)
        port = blackhole.getsockname()[1]
        result = run(
            ["python", WORKLOAD, "40"],
            _workload_env(f"http://127.0.0.1:{port}", OTEL_EXPORTER_OTLP_TIMEOUT="1"),
            timeout=90,
        )
    assert result.returncode == 0, result.stderr
    assert "WORKLOAD DONE" in result.stdout
    _assert_reported_once(result.stderr, spans=40)


def test_grpc_collector_down_too() -> None:
    env = _workload_env(f"http://127.0.0.1:{free_port()}", OTEL_EXPORTER_OTLP_PROTOCOL="grpc")
    result = run(["python", WORKLOAD, "10"], env, timeout=90)
    assert result.returncode == 0, result.stderr
    _assert_reported_once(result.stderr, spans=10)


def test_collector_recovers_and_everything_after_arrives(otlp_receiver: OtlpReceiver) -> None:
    otlp_receiver.fail_next(1)  # the first export is rejected with 503
    env = _workload_env(otlp_receiver.http_endpoint, OTEL_BSP_MAX_EXPORT_BATCH_SIZE="5")
    result = run(["python", WORKLOAD, "30"], env, timeout=60)
    assert result.returncode == 0, result.stderr
    spans = otlp_receiver.wait_for(
        lambda rx: len(rx.spans_named("unit-of-work")) >= 25 and rx.spans_named("unit-of-work")
    )
    summary = [line for line in result.stderr.splitlines() if "telemetry not delivered" in line]
    # The summary names only the signals that lost something (a retried log batch alone is reported too).
    dropped = re.search(r"spans=(\d+) dropped", summary[0]) if summary else None
    lost = int(dropped.group(1)) if dropped else 0
    assert len(spans) + lost == 30, (len(spans), lost, result.stderr)  # every span delivered or counted


@pytest.mark.parametrize(
    ("variable", "value", "expected"),
    [
        (
            "OTEL_EXPORTER_OTLP_PROTOCOL",
            "foo",
            "OTEL_EXPORTER_OTLP_PROTOCOL='foo' is not one of grpc, http/protobuf",
        ),
        ("OTEL_BSP_SCHEDULE_DELAY", "abc", "OTEL_BSP_SCHEDULE_DELAY='abc' is not an integer"),
        ("OTEL_METRIC_EXPORT_INTERVAL", "soon", "OTEL_METRIC_EXPORT_INTERVAL='soon' is not a number"),
    ],
)
def test_bad_values_named_once_and_telemetry_still_flows(
    otlp_receiver: OtlpReceiver, variable: str, value: str, expected: str
) -> None:
    env = _workload_env(otlp_receiver.http_endpoint, **{variable: value})
    result = run(["python", WORKLOAD, "5"], env, timeout=60)
    assert result.returncode == 0 and "WORKLOAD DONE" in result.stdout, result.stderr
    assert result.stderr.count(expected) == 1, result.stderr
    assert "Traceback" not in result.stderr, result.stderr
    otlp_receiver.wait_for(lambda rx: len(rx.spans_named("unit-of-work")) == 5)


def test_unreadable_config_file_is_named_and_the_app_runs(
    otlp_receiver: OtlpReceiver, tmp_path: Path
) -> None:
    missing = tmp_path / "nope" / "otelbundle.yaml"
    env = _workload_env(otlp_receiver.http_endpoint, OTELBUNDLE_CONFIG=str(missing))
    result = run(["python", WORKLOAD, "3"], env, timeout=60)
    assert result.returncode == 0 and "WORKLOAD DONE" in result.stdout, result.stderr
    assert result.stderr.count(f"OTELBUNDLE_CONFIG={missing} does not exist") == 1, result.stderr
    otlp_receiver.wait_for(lambda rx: len(rx.spans_named("unit-of-work")) == 3)


def test_sigterm_flushes_before_exit_for_apps_without_a_handler(
    otlp_receiver: OtlpReceiver, tmp_path: Path
) -> None:
    """`docker stop` / `kill` of a plain `python app.py`: the last batch still arrives."""
    port = free_port()
    env = clean_env(
        {
            **otlp_receiver.env(),
            "OTEL_SERVICE_NAME": "inventory",
            "OTEL_BSP_SCHEDULE_DELAY": "60000",  # nothing leaves before the signal
            "OTEL_BLRP_SCHEDULE_DELAY": "60000",
            "PORT": str(port),
            "INVENTORY_DB": str(tmp_path / "inv.db"),
        }
    )
    app = start(["python", "examples/inventory/app.py"], env, tmp_path, name="inventory")
    app.wait_http(f"http://127.0.0.1:{port}/healthz")
    assert otlp_receiver.spans_named("GET /healthz") == []
    code = app.stop()
    assert code == -15  # still reported as killed by SIGTERM
    assert otlp_receiver.spans_named("GET /healthz"), app.output
