"""Probe requests to an app's own health route: traced by default, left out by the standard
variable (frameworks.md, "Probe requests"). The contrib instrumentations read it; this checks the
distro passes it on, with its own request hook installed beside it."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from harness.apps import BIN, Program, free_port, start
from harness.otlp_receiver import OtlpReceiver
from tests.integration.frameworks.conftest import APPS, app_env, send, server_span


def flask_run(
    receiver: OtlpReceiver, tmp_path_factory: pytest.TempPathFactory, **extra: str
) -> tuple[Program, str]:
    port = free_port()
    env = app_env(receiver, "flask-probes", **extra)
    args = [str(BIN / "flask"), "--app", f"{APPS}.flask_app", "run", "--port", str(port)]
    program = start(args, env, tmp_path_factory.mktemp("flask-probes"), name="flask-probes")
    url = f"http://127.0.0.1:{port}"
    program.wait_http(f"{url}/hello", timeout=60)
    return program, url


@pytest.fixture
def excluding(receiver: OtlpReceiver, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    program, url = flask_run(receiver, tmp_path_factory, OTEL_PYTHON_EXCLUDED_URLS="healthz,readyz")
    try:
        yield url
    finally:
        program.stop()


def test_the_excluded_urls_variable_leaves_probe_requests_untraced(
    excluding: str, receiver: OtlpReceiver
) -> None:
    probe = send(f"{excluding}/healthz")
    assert probe.status == 200
    page = send(f"{excluding}/hello")
    # Spans leave in the order they end: once the later request's span is here, the probe's would be.
    assert server_span(receiver, page).name == "GET /hello"
    assert receiver.spans_in_trace(probe.trace_id) == []


def test_by_default_a_probe_request_is_traced_like_any_other(
    receiver: OtlpReceiver, tmp_path_factory: pytest.TempPathFactory
) -> None:
    program, url = flask_run(receiver, tmp_path_factory)
    try:
        probe = send(f"{url}/healthz")
        assert server_span(receiver, probe).name == "GET /healthz"
    finally:
        program.stop()
