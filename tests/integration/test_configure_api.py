"""otelbundle.configure() gives the same telemetry as the wrapper, from code."""

from __future__ import annotations

from pathlib import Path

from harness.apps import clean_env, run
from harness.otlp_receiver import OtlpReceiver

PROGRAM = str(Path(__file__).parent / "programs" / "configured_in_code.py")


def test_configure_from_code_exports_all_signals(otlp_receiver: OtlpReceiver) -> None:
    env = clean_env({"OTEL_METRIC_EXPORT_INTERVAL": "200"})
    result = run(["python", PROGRAM, otlp_receiver.http_endpoint], env, instrument=False, timeout=60)
    assert result.returncode == 0, result.stderr
    loaded = result.stdout.split("INSTRUMENTED ", 1)[1].split()[0].split(",")
    assert {"logging", "system_metrics"} <= set(loaded)
    # force_flush() returned before the handle was shut down: everything is already here.
    span = next(s for s in otlp_receiver.spans if s.name == "coded-work")
    assert span.resource["service.name"] == "in-code"
    assert span.resource["team"] == "a b"
    assert span.resource["telemetry.distro.name"] == "otelbundle"
    record = next(r for r in otlp_receiver.logs if r.body == "from code")
    assert record.trace_id == span.trace_id and record.span_id == span.span_id
    with_object = next(r for r in otlp_receiver.logs if r.body == "with an object")
    assert str(with_object.attributes["holder"]).startswith("<object object at"), with_object.attributes
    assert "Invalid type" not in result.stderr and "recursive logging" not in result.stderr, result.stderr
    otlp_receiver.wait_for(lambda rx: "process.cpu.utilization" in rx.metric_names("in-code"))


def test_configure_under_the_wrapper_returns_the_wrappers_setup(otlp_receiver: OtlpReceiver) -> None:
    env = clean_env({**otlp_receiver.env(), "OTEL_SERVICE_NAME": "wrapped"})
    result = run(["python", PROGRAM, otlp_receiver.http_endpoint], env, timeout=60)
    assert result.returncode == 0, result.stderr
    # The wrapper configured first, so the service name given in code does not replace it.
    span = otlp_receiver.wait_for(lambda rx: next(iter(rx.spans_named("coded-work")), None))
    assert span.resource["service.name"] == "wrapped"
    assert result.stdout.strip() == "INSTRUMENTED"  # nothing instrumented twice


WRONG_TYPES = """
import otelbundle
from opentelemetry import trace
handle = otelbundle.configure(
    service_name=123, log_correlation="no", scrub="no", resource_attributes=["team"],
    instrument="logging", protocol="foo",
)
with trace.get_tracer("t").start_as_current_span("typed-work"):
    pass
print("INSTRUMENTED", ",".join(handle.instrumented), handle.force_flush(10.0), flush=True)
"""


def test_configure_names_each_argument_of_a_wrong_type_and_runs_on(otlp_receiver: OtlpReceiver) -> None:
    """os.environ raised TypeError on 123 (into the app), "no" was taken as True, and
    ``instrument="logging"`` was a set of letters that loaded nothing."""
    env = clean_env({**otlp_receiver.env(), "OTEL_SERVICE_NAME": "from-env"})
    result = run(["python", "-c", WRONG_TYPES], env, instrument=False, timeout=60)
    assert result.returncode == 0 and "Traceback" not in result.stderr, result.stderr
    errors = [line for line in result.stderr.splitlines() if line.startswith("ERROR otelbundle:")]
    assert errors == [
        "ERROR otelbundle: configure(service_name=...) must be a str, not int; ignoring it.",
        "ERROR otelbundle: configure(resource_attributes=...) must be a mapping of str to str, not list; "
        "ignoring it.",
        "ERROR otelbundle: configure(log_correlation=...) must be True or False, not str; ignoring it.",
        "ERROR otelbundle: configure(scrub=...) must be True, False or a hook, not str; ignoring it.",
        # A str, but not a protocol: named as the argument, not as a variable the caller never set.
        "ERROR otelbundle: configure(protocol='foo') must be one of grpc, http/protobuf; ignoring it "
        "(the environment's or the default protocol is used).",
    ], result.stderr
    assert "OTEL_EXPORTER_OTLP_PROTOCOL" not in result.stderr, result.stderr
    assert "INSTRUMENTED logging True" in result.stdout, result.stdout
    span = otlp_receiver.wait_for(lambda rx: next(iter(rx.spans_named("typed-work")), None))
    assert span.resource["service.name"] == "from-env"


OWN_PROVIDER_FIRST = """
from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider
trace.set_tracer_provider(TracerProvider())  # the app's own, made before configure()
import otelbundle
import logging
handle = otelbundle.configure(service_name="own-provider", instrument=["logging"])
with trace.get_tracer("t").start_as_current_span("app-span"):
    logging.getLogger("app").warning("a log line still exported")
print("FLUSHED", handle.force_flush(10.0), flush=True)
"""


def test_a_provider_the_app_set_before_configure_is_said_not_to_be_exported(
    otlp_receiver: OtlpReceiver,
) -> None:
    """The SDK keeps the first global provider and said only "Overriding of current TracerProvider
    is not allowed": configure() returned as if all was well, and every span was lost unsaid."""
    env = clean_env(otlp_receiver.env())
    result = run(["python", "-c", OWN_PROVIDER_FIRST], env, instrument=False, timeout=60)
    assert result.returncode == 0 and "FLUSHED True" in result.stdout, result.stderr
    assert (
        "otelbundle: configure() found the app's own TracerProvider already set and kept it: "
        "otelbundle's exporters and alert rules are not on it, so its spans are not exported by "
        "otelbundle." in result.stderr
    ), result.stderr
    # What otelbundle did set up still works (its log records arrive); the app's spans do not.
    otlp_receiver.wait_for(lambda rx: any(r.body == "a log line still exported" for r in rx.logs))
    assert not otlp_receiver.spans_named("app-span")
