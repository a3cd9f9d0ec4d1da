"""FastAPI/Starlette under the wrapper: uvicorn --workers 2, and uvicorn --reload across a reload."""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from harness.apps import BIN, Program, free_port, start
from harness.otlp_receiver import OtlpReceiver
from tests.integration.frameworks.conftest import (
    APPS,
    HTTP_SERVER_DURATION,
    app_env,
    assert_quiet,
    has_metric,
    instances_of,
    keep_sending,
    log_in_trace,
    send,
    server_span,
)

ERROR = 2  # OTLP span status code


@dataclass
class Server:
    name: str
    program: Program
    url: str
    reload_dir: Path

    @property
    def service(self) -> str:
        return f"fastapi-{self.name}"


@pytest.fixture(scope="module", params=["workers", "reload"])
def server(
    request: pytest.FixtureRequest, receiver: OtlpReceiver, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Server]:
    name = request.param
    port = free_port()
    folder = tmp_path_factory.mktemp(name)
    args = [str(BIN / "uvicorn"), f"{APPS}.fastapi_app:app", "--port", str(port)]
    if name == "workers":
        # Each worker is a fresh interpreter that imports the SDK and every instrumentation;
        # on a busy machine that can outlast uvicorn's 5 s worker health check, which then
        # kills and restarts it (docs/frameworks.md).
        args += ["--workers", "2", "--timeout-worker-healthcheck", "60"]
    else:
        # A folder of its own, not the whole checkout, which other work may change meanwhile.
        (folder / "watched.py").write_text("# touched by the test to make uvicorn reload\n")
        args += ["--reload", "--reload-dir", str(folder)]
    program = start(args, app_env(receiver, f"fastapi-{name}"), folder, name=name)
    url = f"http://127.0.0.1:{port}"
    try:
        program.wait_http(f"{url}/hello", timeout=60)
        yield Server(name, program, url, folder)
    finally:
        program.stop()


def test_route_log_joins_the_request_trace_with_scope_and_objects_converted(
    server: Server, receiver: OtlpReceiver
) -> None:
    sent = send(f"{server.url}/hello")
    assert sent.status == 200
    span = server_span(receiver, sent)
    assert span.service == server.service and span.name == "GET /hello"
    record = log_in_trace(receiver, sent.trace_id, "hello from fastapi")
    assert record.span_id == span.span_id
    assert record.attributes["basket"] == "Basket(items=3)"
    scope = record.attributes["scope"]  # the ASGI scope: a dict, kept as a map
    assert scope["type"] == "http" and scope["path"] == "/hello"
    assert str(scope["app"]).startswith("<") and "FastAPI object at 0x" in str(scope["app"])  # the app object


def test_raised_error_is_on_the_request_span(server: Server, receiver: OtlpReceiver) -> None:
    """uvicorn logs `Exception in ASGI application` after the app (and its span) returned,
    on loggers that do not propagate to the root: the error is in the trace as the span's
    status and exception event (docs/frameworks.md)."""
    sent = send(f"{server.url}/boom")
    assert sent.status == 500
    span = server_span(receiver, sent)
    assert span.status_code == ERROR
    event = span.event("exception")
    assert event is not None and event.attributes["exception.type"] == "RuntimeError", span.events


def test_server_address_is_the_host_and_the_port_is_apart(server: Server, receiver: OtlpReceiver) -> None:
    """The contrib copies the Host header (``127.0.0.1:8000``) into ``server.address``."""
    span = server_span(receiver, send(f"{server.url}/hello"))
    port = int(server.url.rsplit(":", 1)[1])
    assert span.attributes["server.address"] == "127.0.0.1" and span.attributes["server.port"] == port


def test_a_streamed_answer_is_one_server_span(server: Server, receiver: OtlpReceiver) -> None:
    """No internal span per ASGI ``send``/``receive`` (one per chunk here, one per message on a
    WebSocket). They end before the server span, so they would be exported with it or before it."""
    sent = send(f"{server.url}/stream")
    assert sent.status == 200 and sent.body.count(b"chunk") == 5
    span = server_span(receiver, sent)
    others = [s.name for s in receiver.spans_in_trace(sent.trace_id) if s.span_id != span.span_id]
    assert others == [] and span.name == "GET /stream"
    assert span.attributes["http.response.status_code"] == 200


def test_http_and_process_metrics_are_exported(server: Server, receiver: OtlpReceiver) -> None:
    assert has_metric(receiver, server.service, HTTP_SERVER_DURATION)
    assert has_metric(receiver, server.service, ("process.memory.usage",))


def test_each_worker_exports(server: Server, receiver: OtlpReceiver) -> None:
    if server.name != "workers":
        pytest.skip("one serving process under --reload")

    assert keep_sending(receiver, f"{server.url}/hello", instances_of(server.service))
    assert "died" not in server.program.output, server.program.output


def test_the_reloaded_server_process_exports_too(server: Server, receiver: OtlpReceiver) -> None:
    if server.name != "reload":
        pytest.skip("no reloader under --workers")
    before = {s.resource["process.pid"] for s in receiver.spans if s.service == server.service}
    watched = server.reload_dir / "watched.py"
    os.utime(watched, (time.time() + 5, time.time() + 5))  # a change the reloader sees

    def new_process(rx: OtlpReceiver) -> set[object] | None:
        pids = {s.resource["process.pid"] for s in rx.spans if s.service == server.service}
        return pids - before or None

    assert keep_sending(receiver, f"{server.url}/hello", new_process)
    assert "Reloading" in server.program.output


def test_no_telemetry_warnings_in_the_apps_output(server: Server) -> None:
    """Runs after the requests above (file order): the 500 and objects in extra included."""
    assert_quiet(server.program)
    server.program.stop()
    assert_quiet(server.program)
