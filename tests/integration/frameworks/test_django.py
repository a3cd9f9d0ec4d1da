"""Django 5.2 under the wrapper: runserver (with its autoreloader) and gunicorn, a root-configuring LOGGING.

Each request is sent as the child of a span of the test's own, so its trace id is
known: the server span, the view's log record and Django's own ``django.request``
error records must all be in that trace.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from harness.apps import BIN, ROOT, Program, free_port, start
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

MANAGE = ROOT / "tests" / "integration" / "frameworks" / "apps" / "djsite" / "manage.py"


class Server:
    def __init__(self, name: str, program: Program, url: str) -> None:
        self.name, self.program, self.url = name, program, url
        self.service = f"django-{name}"


@pytest.fixture(scope="module", params=["runserver", "gunicorn"])
def server(
    request: pytest.FixtureRequest, receiver: OtlpReceiver, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Server]:
    name = request.param
    port = free_port()
    # Without DJANGO_SETTINGS_MODULE, as a user runs it: the Django instrumentation reads settings
    # when it loads, before manage.py or wsgi.py sets it; otelbundle takes the value from that
    # file first (docs/frameworks.md). Before, runserver stopped and gunicorn answered 500.
    env = app_env(receiver, f"django-{name}")
    env.pop("DJANGO_SETTINGS_MODULE", None)
    if name == "runserver":
        args = [str(BIN / "python"), str(MANAGE), "runserver", f"127.0.0.1:{port}"]
    else:
        args = [
            str(BIN / "gunicorn"),
            "-w",
            "2",
            "-b",
            f"127.0.0.1:{port}",
            f"{APPS}.djsite.wsgi:application",
        ]
    program = start(args, env, tmp_path_factory.mktemp(name), name=name)
    url = f"http://127.0.0.1:{port}"
    try:
        program.wait_http(f"{url}/hello/", timeout=60)
        yield Server(name, program, url)
    finally:
        program.stop()


def test_view_log_joins_the_request_trace_with_its_objects_as_strings(
    server: Server, receiver: OtlpReceiver
) -> None:
    sent = send(f"{server.url}/hello/?basket=3")
    assert sent.status == 200
    span = server_span(receiver, sent)
    assert span.service == server.service and span.name == "GET hello/"
    # The stable HTTP attributes under every server (runserver gives no REQUEST_URI).
    assert span.attributes["url.path"] == "/hello/" and span.attributes["url.query"] == "basket=3"
    assert span.attributes["http.route"] == "hello/" and span.attributes["http.request.method"] == "GET"
    record = log_in_trace(receiver, sent.trace_id, "hello from django")
    assert record.span_id == span.span_id
    # Objects in `extra` arrive as their (bounded) repr, not as an SDK warning.
    assert record.attributes["basket"] == "Basket(items=3)"
    assert record.attributes["request"] == "<WSGIRequest: GET '/hello/?basket=3'>"


def test_raised_error_is_logged_by_django_in_the_request_trace(
    server: Server, receiver: OtlpReceiver
) -> None:
    sent = send(f"{server.url}/boom/")
    assert sent.status == 500
    span = server_span(receiver, sent)
    record = log_in_trace(receiver, sent.trace_id, "Internal Server Error: /boom/")
    assert record.span_id == span.span_id and record.severity_text == "ERROR"
    assert record.attributes["status_code"] == 500
    assert record.attributes["request"] == "<WSGIRequest: GET '/boom/'>"
    assert record.attributes["exception.type"] == "RuntimeError"
    assert record.attributes["exception.message"] == "django view failed"


def test_returned_500_logged_after_the_span_ended_still_joins_its_trace(
    server: Server, receiver: OtlpReceiver
) -> None:
    """Django logs a 5xx the view returned after the middleware chain, when the request
    span has ended; our middleware noted the span on the request the record names."""
    sent = send(f"{server.url}/unavailable/")
    assert sent.status == 500
    span = server_span(receiver, sent)
    record = log_in_trace(receiver, sent.trace_id, "Internal Server Error: /unavailable/")
    assert record.span_id == span.span_id
    assert record.attributes["status_code"] == 500


@pytest.mark.parametrize(
    ("path", "status", "record"),
    [("/missing/", 404, "Not Found: /missing/"), ("/forbidden/", 403, "Forbidden (Permission denied)")],
)
def test_a_raised_client_error_is_not_an_error_span(
    server: Server, receiver: OtlpReceiver, path: str, status: int, record: str
) -> None:
    """HTTP semconv: a server's 4xx leaves the span status unset, raised (get_object_or_404)
    or returned alike; Django still answers and logs it as without us."""
    sent = send(f"{server.url}{path}")
    assert sent.status == status
    span = server_span(receiver, sent)
    assert span.status_code == 0 and span.event("exception") is None, (span.status_message, span.events)
    assert span.attributes["http.response.status_code"] == status
    logged = log_in_trace(receiver, sent.trace_id, record)
    assert logged.span_id == span.span_id and logged.severity_text == "WARN"


def test_server_address_is_the_host_and_the_port_is_apart(server: Server, receiver: OtlpReceiver) -> None:
    """The contrib copies the Host header (``127.0.0.1:8000``) into ``server.address``."""
    sent = send(f"{server.url}/hello/")
    span = server_span(receiver, sent)
    port = int(server.url.rsplit(":", 1)[1])
    assert span.attributes["server.address"] == "127.0.0.1" and span.attributes["server.port"] == port


def test_http_and_process_metrics_are_exported(server: Server, receiver: OtlpReceiver) -> None:
    assert has_metric(receiver, server.service, HTTP_SERVER_DURATION)
    assert has_metric(receiver, server.service, ("process.memory.usage",))


def test_gunicorn_workers_each_export(server: Server, receiver: OtlpReceiver) -> None:
    if server.name != "gunicorn":
        pytest.skip("one serving process under runserver")

    workers = keep_sending(receiver, f"{server.url}/hello/", instances_of(server.service))
    each_exports_metrics(receiver, server.service, workers)


def test_no_telemetry_warnings_in_the_apps_output(server: Server, receiver: OtlpReceiver) -> None:
    """Runs after the requests above (file order): the 500s and objects in extra included."""
    assert "Internal Server Error: /unavailable/" in server.program.output
    assert_quiet(server.program)
    server.program.stop()
    assert_quiet(server.program)
