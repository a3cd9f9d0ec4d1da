"""The OTLP/HTTP span and log exporters get a fork-aware session, never over one the user set."""

from __future__ import annotations

import os

import pytest
import requests
from opentelemetry.exporter.otlp.proto.http._log_exporter import OTLPLogExporter
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

from otelbundle.distro.configurator import build_components
from otelbundle.sdk.export.http_session import ForkAwareSession, exporter_args, merged_exporter_args

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


def test_in_another_process_the_session_has_new_pools(monkeypatch: pytest.MonkeyPatch) -> None:
    session = ForkAwareSession()
    inherited = dict(session.adapters)
    sent: list[str] = []
    monkeypatch.setattr(requests.Session, "request", lambda self, method, url, *a, **k: sent.append(url))
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
