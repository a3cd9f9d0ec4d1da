"""Pre-fork servers: every worker exports its own spans, metrics and logs as its own instance."""

from __future__ import annotations

import contextlib
import os
import urllib.error
import urllib.request
from pathlib import Path

import psutil
import pytest

from harness.apps import BIN, clean_env, free_port, run, start
from harness.otlp_receiver import OtlpReceiver
from harness.otlp_records import SpanRecord
from otelbundle.distro.defaults import follow_forks

MULTIPROC = str(Path(__file__).parent / "programs" / "multiproc.py")


@pytest.mark.parametrize("preload", [False, True], ids=["no-preload", "preload"])
def test_gunicorn_workers_export_as_distinct_instances(
    otlp_receiver: OtlpReceiver, tmp_path: Path, preload: bool
) -> None:
    port = free_port()
    args = [str(BIN / "gunicorn"), "-w", "2", "-b", f"127.0.0.1:{port}", "--access-logfile", "-"]
    args += ["--preload"] if preload else []
    env = clean_env(
        {**otlp_receiver.env(), "OTEL_SERVICE_NAME": "inventory", "INVENTORY_DB": str(tmp_path / "inv.db")}
    )
    server = start([*args, "examples.inventory.app:app"], env, tmp_path, name="gunicorn")
    try:
        server.wait_http(f"http://127.0.0.1:{port}/healthz")

        def two_instances(rx: OtlpReceiver) -> set[str] | None:
            # An unknown sku logs a WARNING (under gunicorn the root level filters INFO).
            # A new connection each time, so both workers get requests.
            with contextlib.suppress(urllib.error.HTTPError):
                urllib.request.urlopen(f"http://127.0.0.1:{port}/stock/NOPE", timeout=5).close()
            spans = [s for s in rx.spans if s.name == "GET /stock/<sku>"]
            ids = {str(s.resource["service.instance.id"]) for s in spans}
            return ids if len(ids) >= 2 else None

        instance_ids = otlp_receiver.wait_for(two_instances, timeout=30)
        pids = {s.resource["process.pid"] for s in otlp_receiver.spans if s.name == "GET /stock/<sku>"}
        assert len(pids) >= 2
        assert os.getpid() not in pids

        def instances_with(rx: OtlpReceiver, records: list[object]) -> set[str] | None:
            """The instances of ``records`` once every worker that served is among them."""
            ids = {str(r.resource["service.instance.id"]) for r in records}  # type: ignore[attr-defined]
            return ids if instance_ids <= ids else None

        assert otlp_receiver.wait_for(
            lambda rx: instances_with(rx, [r for r in rx.logs if "unknown sku" in str(r.body)])
        )
        assert otlp_receiver.wait_for(
            lambda rx: instances_with(rx, [m for m in rx.metrics if m.name == "process.memory.usage"])
        )
    finally:
        server.stop()
    assert "Traceback" not in server.output, server.output


def test_multiprocessing_children_export_their_own_spans_and_logs(otlp_receiver: OtlpReceiver) -> None:
    env = clean_env({**otlp_receiver.env(), "OTEL_SERVICE_NAME": "multiproc"})
    result = run(["python", MULTIPROC], env, timeout=60)
    assert result.returncode == 0 and "MULTIPROC DONE" in result.stdout, result.stderr
    spans = otlp_receiver.wait_for(
        lambda rx: len(rx.spans_named("child-work")) == 2 and rx.spans_named("child-work")
    )
    assert len({s.resource["service.instance.id"] for s in spans}) == 2
    records = otlp_receiver.wait_for(
        lambda rx: len([r for r in rx.logs if "child" in str(r.body)]) == 2 and rx.logs
    )
    child_logs = [r for r in records if "child" in str(r.body)]
    assert {r.trace_id for r in child_logs} == {s.trace_id for s in spans}


def test_process_metrics_follow_the_fork() -> None:
    """After fork() the system-metrics instrumentor's process handle is the child's."""

    class FakeInstrumentor:
        _instance: FakeInstrumentor | None = None

        def __new__(cls) -> FakeInstrumentor:
            if cls._instance is None:
                cls._instance = super().__new__(cls)
                cls._instance._proc = psutil.Process(os.getpid())
            return cls._instance

    parent = FakeInstrumentor()
    follow_forks(FakeInstrumentor)
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # child: report which pid the handle points at
        os.write(write, str(FakeInstrumentor()._proc.pid).encode())
        os._exit(0)
    os.close(write)
    reported = int(os.read(read, 32))
    os.waitpid(pid, 0)
    assert reported == pid
    assert parent._proc.pid == os.getpid()


def test_recycled_gunicorn_workers_deliver_everything_and_the_master_leaks_nothing(
    otlp_receiver: OtlpReceiver, tmp_path: Path
) -> None:
    """--max-requests 5: each worker exits after 5 requests; its exit flush sends what it has
    (the 60 s metric interval never comes), and the master's threads and descriptors stay put."""
    port = free_port()
    args = [str(BIN / "gunicorn"), "-w", "2", "-b", f"127.0.0.1:{port}", "--max-requests", "5"]
    env = clean_env(
        {**otlp_receiver.env(), "OTEL_SERVICE_NAME": "inventory", "INVENTORY_DB": str(tmp_path / "inv.db")}
    )
    server = start([*args, "examples.inventory.app:app"], env, tmp_path, name="gunicorn")
    requests = 0

    def get() -> None:
        nonlocal requests
        with contextlib.suppress(urllib.error.HTTPError):
            urllib.request.urlopen(f"http://127.0.0.1:{port}/stock/NOPE", timeout=10).close()
        requests += 1

    try:
        server.wait_http(f"http://127.0.0.1:{port}/healthz")
        for _ in range(10):  # the master's own threads have all started by now
            get()
        master = psutil.Process(server.process.pid)
        threads_before = master.num_threads()
        for _ in range(50):  # 10 recycles
            get()
        fds_halfway = master.num_fds()
        for _ in range(50):  # 10 more
            get()
        threads_after, fds_after = master.num_threads(), master.num_fds()
    finally:
        server.stop()
    assert threads_after == threads_before, (
        f"master threads: {threads_before} before 20 recycles, {threads_after} after"
    )
    # Descriptors are compared between the two halves: the master's three export sessions open
    # their sockets at their first export, which on a loaded machine may come after the first
    # requests (7 then 11 in one CI run). A leak per recycle would add 10 in the second half.
    assert fds_after <= fds_halfway + 3, f"master fds: {fds_halfway} after 10 recycles, {fds_after} after 20"

    def served(rx: OtlpReceiver) -> list[SpanRecord]:
        return [s for s in rx.spans if s.name == "GET /stock/<sku>"]

    otlp_receiver.wait_for(lambda rx: len(served(rx)) == requests)
    assert len({s.resource["service.instance.id"] for s in served(otlp_receiver)}) >= 20

    def histogram_counts(rx: OtlpReceiver) -> int:
        """Each worker's last point of the request histogram (cumulative), summed over workers."""
        last: dict[str, int] = {}
        for point in rx.points_named("http.server.request.duration"):
            last[str(point.resource["service.instance.id"])] = int(point.count or 0)
        return sum(last.values())

    otlp_receiver.wait_for(lambda rx: histogram_counts(rx) == requests)
    assert "Traceback" not in server.output, server.output
