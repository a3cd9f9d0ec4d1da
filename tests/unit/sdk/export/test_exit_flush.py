"""During the exit flush a collector that refuses the connection is not retried; before it, it is."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from typing import Any

import pytest
import requests
from opentelemetry.exporter.otlp.proto.http.metric_exporter import OTLPMetricExporter
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.metrics.export import MetricExportResult, MetricsData
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor, SpanExportResult
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from otelbundle.sdk.export import exit_flush
from otelbundle.sdk.export.http_session import ForkAwareSession, metric_exporter_factory


@pytest.fixture(autouse=True)
def _not_exiting() -> Iterator[None]:
    exit_flush.after_fork_in_child()
    yield
    exit_flush.after_fork_in_child()


def _refused_url() -> str:
    with socket.socket() as probe:  # bound, never listening: the port refuses while we hold it
        probe.bind(("127.0.0.1", 0))
        return f"http://127.0.0.1:{probe.getsockname()[1]}/v1/traces"


class CountingSession(ForkAwareSession):
    def __init__(self) -> None:
        super().__init__("spans")
        self.requests = 0

    def request(self, method: str | bytes, url: str | bytes, *args: Any, **kwargs: Any) -> requests.Response:
        self.requests += 1
        return super().request(method, url, *args, **kwargs)


def _a_span() -> Any:
    memory = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(memory))
    provider.get_tracer("t").start_span("s").end()
    return memory.get_finished_spans()[0]


def test_before_the_exit_flush_a_refused_connection_stays_a_connection_error() -> None:
    with pytest.raises(requests.exceptions.ConnectionError):
        ForkAwareSession().post(_refused_url(), data=b"x", timeout=2)


def test_during_the_exit_flush_it_is_final_and_names_the_url() -> None:
    url = _refused_url()
    exit_flush.begin()
    with pytest.raises(exit_flush.CollectorNotThere) as raised:
        ForkAwareSession().post(url, data=b"x", timeout=2)
    assert not isinstance(raised.value, requests.exceptions.ConnectionError)  # what the exporters retry
    assert str(raised.value) == f"connection refused at {url}; not retried during the exit flush"


def test_a_host_name_that_does_not_resolve_is_final_too() -> None:
    exit_flush.begin()
    with pytest.raises(exit_flush.CollectorNotThere, match=r"^host name not found at "):
        ForkAwareSession().post("http://collector.invalid:4318/v1/traces", data=b"x", timeout=2)


def test_a_collector_that_takes_the_connection_and_does_not_answer_is_still_waited_for() -> None:
    exit_flush.begin()
    with socket.socket() as blackhole:
        blackhole.bind(("127.0.0.1", 0))
        blackhole.listen(4)
        url = f"http://127.0.0.1:{blackhole.getsockname()[1]}/v1/traces"
        with pytest.raises(requests.exceptions.ReadTimeout):
            ForkAwareSession().post(url, data=b"x", timeout=0.2)


def test_the_span_exporter_makes_one_request_and_fails_during_the_exit_flush() -> None:
    """Before: a first attempt, its immediate retry, then backoff retries until the timeout."""
    session = CountingSession()
    exporter = OTLPSpanExporter(endpoint=_refused_url(), session=session, timeout=30)
    exit_flush.begin()
    assert exporter.export([_a_span()]) is SpanExportResult.FAILURE
    assert session.requests == 1


def test_the_metric_exporter_gets_our_session_unless_the_user_loads_one(
    caplog: pytest.LogCaptureFixture,
) -> None:
    url = _refused_url().replace("/v1/traces", "/v1/metrics")
    exporter = metric_exporter_factory(OTLPMetricExporter, {})
    exit_flush.begin()
    result = exporter(endpoint=url, timeout=30).export(MetricsData(resource_metrics=[]))
    assert result is MetricExportResult.FAILURE
    assert f"connection refused at {url}; not retried during the exit flush" in caplog.text
    theirs = metric_exporter_factory(
        OTLPMetricExporter, {"OTEL_PYTHON_EXPORTER_OTLP_HTTP_METRICS_CREDENTIAL_PROVIDER": "mine"}
    )
    assert theirs is OTLPMetricExporter


@pytest.mark.parametrize(
    ("given", "during_exit"),
    [(10.0, (1.0, 10.0)), (0.25, (0.25, 0.25)), (None, (1.0, None)), ((3.0, 7.0), (3.0, 7.0))],
)
def test_only_the_exit_flush_bounds_the_connect_phase(given: object, during_exit: object) -> None:
    assert exit_flush.connect_bound(given) == given  # while the app runs: the exporter's timeout
    exit_flush.begin()
    assert exit_flush.connect_bound(given) == during_exit  # a pair the caller chose is left alone


def test_during_the_exit_flush_an_unanswered_connect_is_final_within_a_second() -> None:
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(0)
    fill = [socket.socket() for _ in range(3)]  # a full accept queue: Linux drops further SYNs
    for pending in fill:
        pending.setblocking(False)
        pending.connect_ex(listener.getsockname())
    url = f"http://127.0.0.1:{listener.getsockname()[1]}/v1/traces"
    exit_flush.begin()
    try:
        with pytest.raises(exit_flush.CollectorNotThere, match="connection not answered within 1 s at http"):
            ForkAwareSession().post(url, data=b"x", timeout=30)
    finally:
        for sock in (listener, *fill):
            sock.close()
