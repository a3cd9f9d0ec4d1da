"""Values the SDK would crash on cost only themselves: the app runs and spans and logs arrive.

``OTEL_METRIC_EXPORT_INTERVAL=0`` made the metric reader raise and
``OTEL_TRACES_EXPORTER=otlp,bogus`` the SDK's configurator ("Requested component
'bogus' not found"); either turned all of otelbundle's setup off, with a traceback.
"""

from __future__ import annotations

from pathlib import Path

from harness.apps import clean_env, run
from harness.otlp_receiver import OtlpReceiver

WORKLOAD = str(Path(__file__).parent / "programs" / "workload.py")


def test_a_zero_interval_and_an_unknown_exporter_are_named_and_telemetry_flows(
    otlp_receiver: OtlpReceiver,
) -> None:
    env = clean_env(
        {
            **otlp_receiver.env(),
            "OTEL_SERVICE_NAME": "workload",
            "OTEL_METRIC_EXPORT_INTERVAL": "0",
            "OTEL_TRACES_EXPORTER": "otlp,bogus",
        }
    )
    result = run(["python", WORKLOAD, "3"], env, timeout=60)
    assert result.returncode == 0 and "WORKLOAD DONE" in result.stdout, result.stderr
    assert "Traceback" not in result.stderr, result.stderr
    assert "Configuration of otelbundle failed" not in result.stderr, result.stderr
    warnings = [line for line in result.stderr.splitlines() if line.startswith("WARNING otelbundle:")]
    assert warnings == [
        "WARNING otelbundle: OTEL_TRACES_EXPORTER='otlp,bogus' names an unknown exporter 'bogus' "
        "(known: console, otlp, otlp_proto_grpc, otlp_proto_http; or none on its own); using 'otlp' instead.",
        "WARNING otelbundle: OTEL_METRIC_EXPORT_INTERVAL='0' is not above 0; ignoring it.",
    ], result.stderr
    spans = otlp_receiver.wait_for(lambda rx: len(rx.spans_named("unit-of-work")) == 3 and rx.spans)
    logs = otlp_receiver.wait_for(
        lambda rx: (
            (found := [r for r in rx.logs if str(r.body).startswith("work ")]) and len(found) == 3 and found
        )
    )
    assert {log.trace_id for log in logs} == {span.trace_id for span in spans if span.name == "unit-of-work"}


def test_an_endpoint_written_without_http_is_named_and_telemetry_flows(otlp_receiver: OtlpReceiver) -> None:
    """``localhost:4318`` is the gRPC exporter's form; over OTLP/HTTP every export failed on it."""
    receiver_env = otlp_receiver.env()
    bare = receiver_env["OTEL_EXPORTER_OTLP_ENDPOINT"].removeprefix("http://")
    env = clean_env({**receiver_env, "OTEL_SERVICE_NAME": "workload", "OTEL_EXPORTER_OTLP_ENDPOINT": bare})
    result = run(["python", WORKLOAD, "2"], env, timeout=60)
    assert result.returncode == 0 and "WORKLOAD DONE" in result.stdout, result.stderr
    warnings = [line for line in result.stderr.splitlines() if line.startswith("WARNING otelbundle:")]
    assert warnings == [
        f"WARNING otelbundle: OTEL_EXPORTER_OTLP_ENDPOINT={bare!r} has no http:// or https://, "
        f"which OTLP/HTTP needs; using 'http://{bare}' instead."
    ], result.stderr
    otlp_receiver.wait_for(lambda rx: len(rx.spans_named("unit-of-work")) == 2)
    otlp_receiver.wait_for(lambda rx: len([r for r in rx.logs if str(r.body).startswith("work ")]) == 2)
