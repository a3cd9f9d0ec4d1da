"""The OTLP/HTTP span and log exporters get a fork-aware session, never over one the user set."""

from __future__ import annotations

import os

import pytest
import requests
from opentelemetry.exporter.otlp.proto.http._log_exporter import OTLPLogExporter
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor

from otelbundle.distro.configurator import build_components
from otelbundle.sdk.export.http_session import ForkAwareSession, exporter_args, merged_exporter_args
from otelbundle.sdk.export.report import DropReport
from otelbundle.sdk.export.wrapper import SPANS, ExportWrapper, span_exporter

HTTP = {
    "OTEL_TRACES_EXPORTER": "otlp",
    "OTEL_LOGS_EXPORTER": "otlp",
    "OTEL_EXPORTER_OTLP_PROTOCOL": "http/protobuf",
}


def test_each_http_span_and_log_exporter_gets_a_session_of_its_own() -> None:
    args = exporter_args(HTTP)
    assert set(args) == {OTLPSpanExporter, OTLPLogExporter}
    spans, logs = args[OTLPSpanExporter]["session"], args[OTLPLogExporter]["session"]
    assert isinstance(spans, ForkAwareSession) and isinstance(logs, ForkAwareSession) and spans is not logs


def test_the_configurator_passes_them_as_exporter_args() -> None:
    components = build_components({**HTTP, "OTELBUNDLE_SCRUB": "false"})
    assert set(components.kwargs["exporter_args_map"]) == {OTLPSpanExporter, OTLPLogExporter}


@pytest.mark.parametrize(
    ("env", "expected"),
    [
        ({"OTEL_EXPORTER_OTLP_PROTOCOL": "grpc"}, set()),
        ({"OTEL_EXPORTER_OTLP_LOGS_PROTOCOL": "grpc"}, {OTLPSpanExporter}),
        (
            {"OTEL_TRACES_EXPORTER": "otlp_proto_http", "OTEL_EXPORTER_OTLP_PROTOCOL": "grpc"},
            {OTLPSpanExporter},
        ),
        ({"OTEL_LOGS_EXPORTER": "none"}, {OTLPSpanExporter}),
        ({"OTEL_PYTHON_EXPORTER_OTLP_HTTP_CREDENTIAL_PROVIDER": "mine"}, set()),
        ({"OTEL_PYTHON_EXPORTER_OTLP_HTTP_TRACES_CREDENTIAL_PROVIDER": "mine"}, {OTLPLogExporter}),
    ],
)
def test_only_http_exporters_without_a_users_session(env: dict[str, str], expected: set[type]) -> None:
    assert set(exporter_args({**HTTP, **env})) == expected


def test_a_session_the_caller_gives_is_kept_and_other_arguments_are_merged() -> None:
    theirs = requests.Session()
    merged = merged_exporter_args(
        exporter_args(HTTP), {OTLPSpanExporter: {"session": theirs}, OTLPLogExporter: {"timeout": 3}}
    )
    assert merged[OTLPSpanExporter] == {"session": theirs}
    assert merged[OTLPLogExporter]["timeout"] == 3
    assert isinstance(merged[OTLPLogExporter]["session"], ForkAwareSession)
    # With our session the collector's refusals are seen and split, so the exporter's own limit
    # (a whole batch dropped unsent) is lifted; with theirs it stays.
    assert merged[OTLPLogExporter]["max_request_size"] == 0


def test_in_another_process_the_session_has_new_pools(monkeypatch: pytest.MonkeyPatch) -> None:
    session = ForkAwareSession()
    inherited = dict(session.adapters)
    sent: list[str] = []
    answer = requests.Response()
    answer.status_code = 200

    def request(self: requests.Session, method: str, url: str, *a: object, **k: object) -> requests.Response:
        sent.append(url)
        return answer

    monkeypatch.setattr(requests.Session, "request", request)
    session.request("POST", "http://collector/v1/traces")
    assert session.adapters == inherited  # same process: the pools stay
    monkeypatch.setattr(os, "getpid", lambda: -1)
    session.request("POST", "http://collector/v1/traces")
    assert set(session.adapters) == set(inherited)
    assert all(session.adapters[p] is not inherited[p] for p in inherited)
    assert sent == ["http://collector/v1/traces"] * 2


def test_the_environment_is_read_once_per_url_with_what_requests_reads(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("HTTP_PROXY", "http://proxy:3128")
    monkeypatch.setenv("NO_PROXY", "collector-direct")
    session, plain = ForkAwareSession(), requests.Session()
    url = "http://collector:4318/v1/traces"
    for _ in range(2):
        assert session.merge_environment_settings(
            url, {}, None, None, None
        ) == plain.merge_environment_settings(url, {}, None, None, None)
    direct = "http://collector-direct:4318/v1/traces"
    assert session.merge_environment_settings(direct, {}, None, None, None)["proxies"] == {}
    scanned: list[str] = []
    monkeypatch.setattr(
        "requests.sessions.get_environ_proxies", lambda u, no_proxy=None: scanned.append(u) or {}
    )
    session.merge_environment_settings(url, {}, None, None, None)
    assert scanned == []  # remembered for this URL
    given = session.merge_environment_settings(url, {"http": "http://other:1"}, None, None, None)
    assert given["proxies"]["http"] == "http://other:1" and scanned == [
        url
    ]  # given proxies: as requests does


class _PartialSuccess(requests.adapters.BaseAdapter):
    """A collector's 200 whose body rejects 2 spans (an OTLP partial success)."""

    def send(self, request: requests.PreparedRequest, *args: object, **kwargs: object) -> requests.Response:
        answer = trace_service_pb2.ExportTraceServiceResponse()
        answer.partial_success.rejected_spans = 2
        answer.partial_success.error_message = "span name too long"
        response = requests.Response()
        response.status_code, response._content = 200, answer.SerializeToString()
        response.headers["Content-Type"] = "application/x-protobuf"
        response.request, response.url = request, str(request.url)
        return response

    def close(self) -> None:
        return None


def test_spans_a_collector_rejects_in_a_200_answer_are_counted_and_said() -> None:
    """The OTLP exporter reads only the status: rejected spans were counted as delivered, unsaid."""
    said: list[str] = []
    report = DropReport(endpoint="http://collector:4318", emit=said.append)
    session = exporter_args(HTTP, report.rejected_by_collector)[OTLPSpanExporter]["session"]
    session.mount("http://", _PartialSuccess())
    exporter = OTLPSpanExporter(endpoint="http://collector:4318/v1/traces", session=session)
    provider = TracerProvider()
    provider.add_span_processor(
        SimpleSpanProcessor(span_exporter(ExportWrapper(SPANS, exporter, report=report)))
    )
    with provider.get_tracer("t").start_as_current_span("only-export"):
        pass
    assert report.counts["spans"].dropped == 2
    assert said == [
        "otelbundle: the collector at http://collector:4318 rejected 2 spans of an export it accepted: "
        "span name too long. Further rejections are counted, not logged; a summary is printed at exit."
    ]
    assert "spans=2 dropped" in (report.summary() or "")
