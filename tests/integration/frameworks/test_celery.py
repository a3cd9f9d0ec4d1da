"""Celery under the wrapper: a Flask view produces tasks, a prefork worker (2 pool processes)
runs them, a real Redis broker (Debian's redis-server, started here on a unix socket)."""

from __future__ import annotations

import shutil
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from harness.apps import BIN, Program, free_port, start
from harness.otlp_receiver import OtlpReceiver, SpanRecord
from tests.integration.frameworks.conftest import (
    APPS,
    app_env,
    assert_quiet,
    keep_sending,
    log_in_trace,
    send,
    server_span,
)

ERROR = 2  # OTLP span status code
WORKER_OPTIONS = ["--concurrency", "2", "--loglevel", "INFO", "--without-mingle", "--without-gossip"]


@dataclass
class Deployment:
    web: Program
    worker: Program
    url: str


def start_redis(folder: Path) -> tuple[subprocess.Popen[bytes], Path]:
    server = shutil.which("redis-server")
    assert server, "redis-server is not installed (.ci/run installs Debian's redis-server)"
    socket = folder / "redis.sock"
    process = subprocess.Popen(
        [server, "--port", "0", "--unixsocket", str(socket), "--save", "", "--appendonly", "no"],
        cwd=folder,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.STDOUT,
    )
    end = time.monotonic() + 20
    while not socket.exists():
        assert process.poll() is None and time.monotonic() < end, "redis-server did not start"
        time.sleep(0.05)
    return process, socket


@pytest.fixture(scope="module")
def deployment(receiver: OtlpReceiver, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Deployment]:
    folder = tmp_path_factory.mktemp("celery")
    redis, socket = start_redis(folder)
    broker = {"CELERY_BROKER_URL": f"redis+socket://{socket}"}
    port = free_port()
    web = start(
        [str(BIN / "flask"), "--app", f"{APPS}.celery_app:web", "run", "--port", str(port)],
        app_env(receiver, "producer", **broker),
        folder,
        name="web",
    )
    worker = start(
        [str(BIN / "celery"), "-A", f"{APPS}.celery_app:celery", "worker", *WORKER_OPTIONS],
        app_env(receiver, "worker", **broker),
        folder,
        name="worker",
    )
    url = f"http://127.0.0.1:{port}"
    try:
        web.wait_http(url, timeout=60)
        end = time.monotonic() + 60
        while "ready." not in worker.output:
            assert worker.process.poll() is None and time.monotonic() < end, worker.output
            time.sleep(0.1)
        yield Deployment(web, worker, url)
    finally:
        web.stop()
        worker.stop()
        redis.terminate()
        redis.wait(10)


def run_span(receiver: OtlpReceiver, trace_id: str, task: str) -> SpanRecord:
    return receiver.wait_for(
        lambda rx: next((s for s in rx.spans_in_trace(trace_id) if s.name == f"run/{task}"), None), timeout=30
    )


def test_one_trace_from_the_request_through_the_broker_to_the_pool_process(
    deployment: Deployment, receiver: OtlpReceiver
) -> None:
    sent = send(f"{deployment.url}/enqueue/add")
    assert sent.status == 200
    request_span = server_span(receiver, sent)
    run = run_span(receiver, sent.trace_id, "add")
    publish = next(s for s in receiver.spans_in_trace(sent.trace_id) if s.name == "apply_async/add")
    assert (request_span.service, publish.service, run.service) == ("producer", "producer", "worker")
    assert publish.parent_span_id == request_span.span_id and run.parent_span_id == publish.span_id
    assert run.resource["process.pid"] != request_span.resource["process.pid"]
    produced = log_in_trace(receiver, sent.trace_id, "enqueued add")
    assert produced.span_id == request_span.span_id
    # The task's own record and Celery's, from the pool process, in the task's span.
    record = log_in_trace(receiver, sent.trace_id, "adding in the worker")
    assert record.span_id == run.span_id and record.attributes["basket"] == "Basket(items=5)"
    succeeded = log_in_trace(receiver, sent.trace_id, f"Task add[{sent.body.decode()}] succeeded")
    assert succeeded.span_id == run.span_id


def test_a_task_failure_is_logged_by_celery_in_the_tasks_trace(
    deployment: Deployment, receiver: OtlpReceiver
) -> None:
    sent = send(f"{deployment.url}/enqueue/fail")
    assert sent.status == 200
    run = run_span(receiver, sent.trace_id, "fail")
    assert run.status_code == ERROR
    record = log_in_trace(receiver, sent.trace_id, f"Task fail[{sent.body.decode()}] raised unexpected")
    assert record.span_id == run.span_id and record.severity_text == "ERROR"
    assert record.attributes["exception.type"] == "RuntimeError"
    assert record.attributes["exception.message"] == "task failed"


def test_each_pool_process_exports_spans_logs_and_metrics(
    deployment: Deployment, receiver: OtlpReceiver
) -> None:
    def pool_instances(rx: OtlpReceiver) -> set[str] | None:
        found = {str(s.resource["service.instance.id"]) for s in rx.spans if s.name == "run/add"}
        return found if len(found) >= 2 else None

    # Tasks sent together, so that the second pool process gets one while the first is busy.
    pool = keep_sending(receiver, f"{deployment.url}/enqueue/add", pool_instances, burst=4)

    def logged(rx: OtlpReceiver) -> set[str]:
        return {str(r.resource["service.instance.id"]) for r in rx.logs if r.body == "adding in the worker"}

    def measured(rx: OtlpReceiver) -> set[str]:
        return {str(m.resource["service.instance.id"]) for m in rx.points_named("process.memory.usage")}

    # Every pool process exports its spans, logs and process metrics: each has its own
    # metric reader after the fork (otelbundle.sdk.metric_reader; docs/fork-servers.md).
    try:
        receiver.wait_for(lambda rx: pool <= logged(rx) and pool <= measured(rx), timeout=60)
    except AssertionError as exc:
        raise AssertionError(
            f"{exc}\npool processes that ran tasks: {sorted(pool)}\n"
            f"with the task's log: {sorted(logged(receiver))}\nwith process metrics: {sorted(measured(receiver))}"
        ) from None


def test_no_telemetry_warnings_in_the_web_or_worker_output(deployment: Deployment) -> None:
    """Runs after the tasks above (file order): the failure and objects in extra included."""
    assert "raised unexpected" in deployment.worker.output
    for program in (deployment.web, deployment.worker):
        assert_quiet(program)
        program.stop()
        assert_quiet(program)
