"""Forked children export their own metrics, on connections of their own, and none hangs.

A parent exports every 100 ms to a receiver that takes 150 ms to answer, so its
export is in flight most of the time, and forks 20 children at random moments
(harness/programs/fork_storm.py). With the SDK's periodic reader 4 to 8
of 20 children export anything (bench/bench_fork_storm.py prints both readers
side by side); with otelbundle's, every one does.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator

import psutil
import pytest
from opentelemetry.exporter.otlp.proto.http._log_exporter import OTLPLogExporter
from opentelemetry.exporter.otlp.proto.http.metric_exporter import OTLPMetricExporter
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk._logs import LoggerProvider
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor

from harness.fork_storm import run_storm
from harness.forked import in_forked_child
from harness.otlp_receiver import OtlpReceiver
from otelbundle.sdk.export import http_session
from otelbundle.sdk.export.log_batch import LogBatchProcessor
from otelbundle.sdk.export.report import DropReport
from otelbundle.sdk.metric_reader import ForkSafeMetricReader


@pytest.fixture
def slow_receiver() -> Iterator[OtlpReceiver]:
    receiver = OtlpReceiver().start()
    receiver.answer_after(0.15)
    try:
        yield receiver
    finally:
        receiver.stop()


def test_every_child_of_a_fork_storm_exports_its_own_metrics_and_none_hangs(
    slow_receiver: OtlpReceiver,
) -> None:
    result = run_storm(slow_receiver, "configured", children=20)
    assert len(result.children) == 20
    assert not result.hung and not result.failed, result.line()
    # Each child exported from its periodic thread while alive, not only at its exit.
    assert result.exported_alive == result.children, result.line()
    assert result.parent_after, "the parent stopped exporting after the storm"


def _ports_to(port: int) -> set[int]:
    """Local ports of this process's TCP connections to ``port`` (inherited ones included)."""
    return {
        c.laddr.port for c in psutil.Process().net_connections(kind="tcp") if c.raddr and c.raddr.port == port
    }


def _new_connection_in_child(export: Callable[[], object], port: int) -> bool:
    """Fork; did the child's export open a connection of its own (rather than use an inherited one)?"""

    def child() -> bool:
        before = _ports_to(port)
        export()
        return bool(_ports_to(port) - before)

    return in_forked_child(child)


def test_a_forked_childs_metrics_go_out_on_a_connection_of_its_own(otlp_receiver: OtlpReceiver) -> None:
    """Two processes on one keep-alive socket read each other's answers: the child must not reuse it."""
    endpoint = f"{otlp_receiver.http_endpoint}/v1/metrics"
    reader = ForkSafeMetricReader(
        lambda: OTLPMetricExporter(endpoint=endpoint), export_interval_millis=math.inf
    )
    provider = MeterProvider(metric_readers=[reader], shutdown_on_exit=False)
    try:
        provider.get_meter("test").create_counter("work").add(1)
        assert reader.force_flush(timeout_millis=10_000)
        assert _ports_to(otlp_receiver.http_port), "the parent keeps no connection open: nothing to inherit"
        assert _new_connection_in_child(
            lambda: reader.force_flush(timeout_millis=10_000), otlp_receiver.http_port
        )
        assert reader.force_flush(timeout_millis=10_000), "the parent's export after the fork"
    finally:
        provider.shutdown(timeout_millis=5_000)


@pytest.mark.parametrize("signal", ["traces", "logs"])
def test_a_forked_childs_spans_and_logs_go_out_on_a_connection_of_their_own(
    otlp_receiver: OtlpReceiver, signal: str
) -> None:
    """The batch processors keep their exporter in a child: the distro's session must not share sockets."""
    env = {
        "OTEL_TRACES_EXPORTER": "otlp",
        "OTEL_LOGS_EXPORTER": "otlp",
        "OTEL_EXPORTER_OTLP_PROTOCOL": "http/protobuf",
    }
    args = http_session.exporter_args(env)  # what the configurator passes as exporter_args_map
    if signal == "traces":
        span_exporter = OTLPSpanExporter(
            endpoint=f"{otlp_receiver.http_endpoint}/v1/traces", **args[OTLPSpanExporter]
        )
        processor: BatchSpanProcessor | LogBatchProcessor = BatchSpanProcessor(span_exporter)
        provider = TracerProvider()
        provider.add_span_processor(processor)

        def emit(name: str) -> None:
            provider.get_tracer("test").start_span(name).end()
    else:
        log_exporter = OTLPLogExporter(
            endpoint=f"{otlp_receiver.http_endpoint}/v1/logs", **args[OTLPLogExporter]
        )
        processor = LogBatchProcessor(log_exporter, DropReport())
        logger_provider = LoggerProvider(shutdown_on_exit=False)
        logger_provider.add_log_record_processor(processor)

        def emit(name: str) -> None:
            logger_provider.get_logger("test").emit(body=name)

    try:
        emit("parent")
        assert processor.force_flush(10_000)
        assert _ports_to(otlp_receiver.http_port), "the parent keeps no connection open: nothing to inherit"

        def export() -> None:
            emit("child")
            processor.force_flush(10_000)

        assert _new_connection_in_child(export, otlp_receiver.http_port)
        emit("parent again")
        assert processor.force_flush(10_000), "the parent's export after the fork"
    finally:
        processor.shutdown()
