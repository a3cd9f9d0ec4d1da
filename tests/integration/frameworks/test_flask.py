"""Flask under the wrapper: the dev server (`flask run`) and gunicorn --preload with 2 workers."""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from dataclasses import dataclass

import pytest

from harness.apps import BIN, Program, free_port, start
from harness.otlp_receiver import OtlpReceiver
from tests.integration.frameworks.conftest import (
    APPS,
    HTTP_SERVER_DURATION,
    app_env,
    assert_quiet,
    each_exports_metrics,
    has_metric,
    instances_of,
    keep_sending,
    log_in_trace,
    send,
    server_span,
)


@dataclass
class Server:
    name: str
    program: Program
    url: str

    @property
    def service(self) -> str:
        return f"flask-{self.name}"


@pytest.fixture(scope="module", params=["flask-run", "gunicorn-preload"])
def server(
    request: pytest.FixtureRequest, receiver: OtlpReceiver, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Server]:
    name = request.param
    port = free_port()
    env = app_env(receiver, f"flask-{name}")
    if name == "flask-run":
        args = [str(BIN / "flask"), "--app", f"{APPS}.flask_app", "run", "--port", str(port)]
    else:
        args = [
            str(BIN / "gunicorn"),
            "--preload",
            "-w",
            "2",
            "-b",
            f"127.0.0.1:{port}",
            f"{APPS}.flask_app:app",
        ]
    program = start(args, env, tmp_path_factory.mktemp(name), name=name)
    url = f"http://127.0.0.1:{port}"
    try:
        program.wait_http(f"{url}/hello", timeout=60)
        yield Server(name, program, url)
    finally:
        program.stop()


def test_view_log_joins_the_request_trace_with_its_objects_as_strings(
    server: Server, receiver: OtlpReceiver
) -> None:
    sent = send(f"{server.url}/hello")
    assert sent.status == 200
    span = server_span(receiver, sent)
    assert span.service == server.service and span.name == "GET /hello"
    record = log_in_trace(receiver, sent.trace_id, "hello from flask")
    assert record.span_id == span.span_id
    assert record.attributes["basket"] == "Basket(items=3)"
    assert record.attributes["request"] == f"<Request '{server.url}/hello' [GET]>"


def test_flask_logs_the_raised_error_in_the_request_trace(server: Server, receiver: OtlpReceiver) -> None:
    sent = send(f"{server.url}/boom")
    assert sent.status == 500
    span = server_span(receiver, sent)
    record = log_in_trace(receiver, sent.trace_id, "Exception on /boom [GET]")
    assert record.span_id == span.span_id and record.severity_text == "ERROR"
    assert record.attributes["exception.type"] == "RuntimeError"
    assert record.attributes["exception.message"] == "flask view failed"


def test_a_request_matching_no_route_is_named_by_its_method_only(
    server: Server, receiver: OtlpReceiver
) -> None:
    """Not by its raw path: every scanned URL would be a span name (and span-metrics series) of its own."""
    sent = send(f"{server.url}/no/such/page-{secrets.token_hex(4)}")
    assert sent.status == 404
    span = server_span(receiver, sent)
    assert span.name == "GET" and "http.route" not in span.attributes
    assert span.attributes["http.response.status_code"] == 404 and span.status_code == 0


def test_server_address_is_the_host_and_the_port_is_apart(server: Server, receiver: OtlpReceiver) -> None:
    """The contrib copies the Host header (``127.0.0.1:8000``) into ``server.address``."""
    sent = send(f"{server.url}/hello")
    span = server_span(receiver, sent)
    port = int(server.url.rsplit(":", 1)[1])
    assert span.attributes["server.address"] == "127.0.0.1" and span.attributes["server.port"] == port


def test_http_and_process_metrics_are_exported(server: Server, receiver: OtlpReceiver) -> None:
    assert has_metric(receiver, server.service, HTTP_SERVER_DURATION)
    assert has_metric(receiver, server.service, ("process.memory.usage",))


def test_preloaded_gunicorn_workers_each_export(server: Server, receiver: OtlpReceiver) -> None:
    if server.name != "gunicorn-preload":
        pytest.skip("one serving process under flask run")

    workers = keep_sending(receiver, f"{server.url}/hello", instances_of(server.service))
    each_exports_metrics(receiver, server.service, workers)


def test_no_telemetry_warnings_in_the_apps_output(server: Server) -> None:
    """Runs after the requests above (file order): the 500 and objects in extra included."""
    assert_quiet(server.program)
    server.program.stop()
    assert_quiet(server.program)
