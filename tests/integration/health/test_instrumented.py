"""The instrumentor as users run it: a program under opentelemetry-instrument with an
otelbundle.yaml, its metrics and logs checked at the in-process OTLP receiver."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import textwrap
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from harness import apps
from harness.otlp_receiver import OtlpReceiver

WORKER = str(Path(__file__).parent / "programs" / "worker.py")
HUNG = str(Path(__file__).parent / "programs" / "hung_checks.py")
ERROR, WARN, INFO = 17, 13, 9  # OTLP severity numbers


@pytest.fixture
def listener() -> Iterator[socket.socket]:
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen()
    yield sock
    sock.close()


def config(tmp_path: Path, body: str) -> Path:
    path = tmp_path / "otelbundle.yaml"
    path.write_text(textwrap.dedent(body).lstrip())
    return path


def status_points(receiver: OtlpReceiver, check: str, value: float) -> bool:
    return any(
        m.name == "otelbundle.health.check.status"
        and m.attributes.get("health.check.name") == check
        and m.value == value
        for m in receiver.metrics
    )


def test_metrics_and_state_change_logs_reach_the_collector(
    tmp_path: Path, otlp_receiver: OtlpReceiver, listener: socket.socket
) -> None:
    port = listener.getsockname()[1]
    http_port = apps.free_port()
    cfg = config(
        tmp_path,
        f"""
        health:
          # generous: right after start-up the wrapper is still importing instrumentations
          interval: 1s
          timeout: 1s
          http: {{port: {http_port}}}
          checks:
            - {{name: cache, kind: tcp, host: 127.0.0.1, port: {port}}}
            - {{name: disk, kind: system, resource: disk, path: /, warning: 100%}}
            - {{name: optional, kind: tcp, host: 127.0.0.1, port: {port}, readiness: false}}
        """,
    )
    env = apps.clean_env(
        {**otlp_receiver.env(), "OTELBUNDLE_CONFIG": str(cfg), "OTEL_SERVICE_NAME": "worker"}
    )
    program = apps.start(["python", WORKER], env, tmp_path, name="worker")
    try:
        otlp_receiver.wait_for(lambda r: status_points(r, "cache", 1.0) and status_points(r, "disk", 1.0))
        point = next(m for m in otlp_receiver.metrics if m.name == "otelbundle.health.check.status")
        assert point.service == "worker"
        assert set(point.attributes) == {"health.check.name", "health.check.kind"}
        names = otlp_receiver.metric_names("worker")
        assert {
            "otelbundle.health.check.duration",
            "otelbundle.health.status",
            "otelbundle.health.check.skipped",
        } <= names
        assert any(
            m.name == "otelbundle.health.status" and m.value == 1.0 and m.attributes == {}
            for m in otlp_receiver.metrics
        )
        healthy_log = otlp_receiver.wait_for(
            lambda r: [x for x in r.logs if x.attributes.get("health.check.name") == "cache"]
        )[0]
        assert healthy_log.severity_number == INFO
        assert healthy_log.body == f"health check cache is healthy: connected to 127.0.0.1:{port}"
        assert healthy_log.attributes["health.status"] == "healthy"
        assert healthy_log.attributes["health.check.kind"] == "tcp"

        ready = json.load(urllib.request.urlopen(f"http://127.0.0.1:{http_port}/readyz", timeout=5))
        assert ready["status"] == "ready" and set(ready["checks"]) == {"cache", "disk"}
        listener.close()  # the dependency goes away
        otlp_receiver.wait_for(lambda r: status_points(r, "cache", 0.0))
        failing = otlp_receiver.wait_for(
            lambda r: [
                x
                for x in r.logs
                if x.attributes.get("health.status") == "failing"
                and x.attributes.get("health.check.name") == "cache"
            ]
        )[0]
        assert failing.severity_number == ERROR
        assert f"health check cache is failing: cannot connect to 127.0.0.1:{port}" in failing.body
        otlp_receiver.wait_for(
            lambda r: any(m.name == "otelbundle.health.status" and m.value == 0.0 for m in r.metrics)
        )
        with pytest.raises(urllib.error.HTTPError) as not_ready:
            urllib.request.urlopen(f"http://127.0.0.1:{http_port}/readyz", timeout=5)
        assert not_ready.value.code == 503
        assert json.load(not_ready.value)["checks"]["cache"]["status"] == "failing"
        alive = json.load(urllib.request.urlopen(f"http://127.0.0.1:{http_port}/healthz", timeout=5))
        assert alive == {"status": "alive"}
        cache_logs = [x for x in otlp_receiver.logs if x.attributes.get("health.check.name") == "cache"]
        assert [x.attributes["health.status"] for x in cache_logs] == ["healthy", "failing"]  # changes only
    finally:
        assert program.stop() == 0, program.output
    # The file was read before the health instrumentor loaded: its section must be known then.
    assert "unknown" not in program.output, program.output


def test_hung_check_is_reported_timed_out_at_the_receiver(
    tmp_path: Path, otlp_receiver: OtlpReceiver
) -> None:
    hang = tmp_path / "hangcheck.py"
    hang.write_text("import time\n\ndef check():\n    time.sleep(60)\n    return 'ok'\n")
    cfg = config(
        tmp_path,
        """
        health:
          checks:
            - {name: stuck, kind: python, function: "hangcheck:check", interval: 400ms, timeout: 200ms}
        """,
    )
    env = apps.clean_env({**otlp_receiver.env(), "OTELBUNDLE_CONFIG": str(cfg), "PYTHONPATH": str(tmp_path)})
    program = apps.start(["python", WORKER], env, tmp_path, name="worker")
    try:
        log = otlp_receiver.wait_for(
            lambda r: [x for x in r.logs if x.attributes.get("health.check.name") == "stuck"]
        )
        assert log[0].body == "health check stuck is failing: timed out after 0.2s"
        otlp_receiver.wait_for(
            lambda r: any(
                m.name == "otelbundle.health.check.skipped" and (m.value or 0) >= 1 for m in r.metrics
            )
        )
    finally:
        assert program.stop() == 0, program.output


def test_bad_config_is_reported_with_positions_and_the_app_runs(
    tmp_path: Path, otlp_receiver: OtlpReceiver
) -> None:
    cfg = config(
        tmp_path,
        """
        health:
          checks:
            - {name: a, kind: tcp, host: x, port: 99999}
            - {name: b, kind: python, function: "not_a_module_anywhere:check"}
        """,
    )
    env = apps.clean_env({**otlp_receiver.env(), "OTELBUNDLE_CONFIG": str(cfg)})
    result = apps.run(["python", "-c", "print('app ran')"], env)
    assert result.returncode == 0, result.stderr
    assert "app ran" in result.stdout
    assert "health checks are off because of 2 problem(s)" in result.stderr
    assert f"{cfg}:3:43: port: expected a port number 1..65535, got 99999" in result.stderr
    assert f"{cfg}:4:42: cannot find module 'not_a_module_anywhere'" in result.stderr
    assert "Traceback" not in result.stderr


def test_disabled_with_the_standard_variable(tmp_path: Path, otlp_receiver: OtlpReceiver) -> None:
    cfg = config(
        tmp_path, "health:\n  checks:\n    - {name: disk, kind: system, resource: disk, critical: 100%}\n"
    )
    code = "import time, logging\ntime.sleep(1.5)\nlogging.getLogger('app').warning('app done')\n"
    base = {**otlp_receiver.env(), "OTELBUNDLE_CONFIG": str(cfg)}
    enabled = apps.run(["python", "-c", code], apps.clean_env(base))
    assert enabled.returncode == 0, enabled.stderr
    otlp_receiver.wait_for(lambda r: "otelbundle.health.check.status" in r.metric_names())
    otlp_receiver.clear()
    disabled = apps.run(
        ["python", "-c", code],
        apps.clean_env({**base, "OTEL_PYTHON_DISABLED_INSTRUMENTATIONS": "otelbundle_health"}),
    )
    assert disabled.returncode == 0, disabled.stderr
    otlp_receiver.wait_for(
        lambda r: any(x.body == "app done" for x in r.logs)
    )  # the app's telemetry still flows
    assert not [n for n in otlp_receiver.metric_names() if n.startswith("health.")]
    assert not [x for x in otlp_receiver.logs if "health.check.name" in x.attributes]


def test_credentials_in_a_checked_url_reach_neither_the_collector_nor_readyz(
    tmp_path: Path, otlp_receiver: OtlpReceiver
) -> None:
    with socket.socket() as unused:  # nothing listens: the check fails and says why
        unused.bind(("127.0.0.1", 0))
        closed = unused.getsockname()[1]
    http_port = apps.free_port()
    cfg = config(
        tmp_path,
        f"""
        health:
          interval: 1s
          http: {{port: {http_port}}}
          checks:
            - {{name: inv, kind: http, url: "http://probe:${{env:INV_PASSWORD}}@127.0.0.1:{closed}/h?token=t0k3n"}}
        """,
    )
    env = apps.clean_env(
        {**otlp_receiver.env(), "OTELBUNDLE_CONFIG": str(cfg), "INV_PASSWORD": "hunter2secret"}
    )
    program = apps.start(["python", WORKER], env, tmp_path, name="worker")
    try:
        record = otlp_receiver.wait_for(
            lambda r: [x for x in r.logs if x.attributes.get("health.check.name") == "inv"]
        )[0]
        # It connects to 127.0.0.1 (urllib took "probe:...@127.0.0.1" for a host name);
        # the query value is hidden (the exporter's scrubber may rewrite the *** further).
        assert f"inv is failing: GET http://127.0.0.1:{closed}/h?token=" in record.body
        otlp_receiver.wait_for(lambda r: status_points(r, "inv", 0.0))
        with pytest.raises(urllib.error.HTTPError) as not_ready:
            urllib.request.urlopen(f"http://127.0.0.1:{http_port}/readyz", timeout=5)
        served = not_ready.value.read().decode()
    finally:
        assert program.stop() == 0, program.output
    exported = repr(otlp_receiver.logs) + repr(otlp_receiver.metrics) + repr(otlp_receiver.spans)
    for text in (exported, served, program.output):
        assert "hunter2secret" not in text and "t0k3n" not in text


def test_a_probe_port_in_use_is_said_on_stderr_and_the_app_runs(tmp_path: Path) -> None:
    """The port held by another (not an ancestor) process: one clear line, the checks and app run."""
    port = apps.free_port()
    holder = subprocess.Popen(  # a sibling, not an ancestor: an ancestor's port is no error
        [
            sys.executable,
            "-c",
            "import socket, sys\n"
            f"s = socket.socket(); s.bind(('127.0.0.1', {port})); s.listen()\n"
            "print('held', flush=True); sys.stdin.read()",
        ],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline() == "held\n"
        cfg = config(
            tmp_path,
            f"""
            health:
              http: {{port: {port}}}
              checks:
                - {{name: disk, kind: system, resource: disk, critical: 100%}}
            """,
        )
        env = apps.clean_env(
            {
                "OTELBUNDLE_CONFIG": str(cfg),
                "OTEL_SERVICE_NAME": "busy",
                "OTEL_TRACES_EXPORTER": "none",
                "OTEL_METRICS_EXPORTER": "none",
                "OTEL_LOGS_EXPORTER": "none",
            }
        )
        result = apps.run(["python", "-c", "print('app ran')"], env)
    finally:
        holder.communicate("")
    assert result.returncode == 0 and "app ran" in result.stdout, result.stderr
    assert (
        f"otelbundle: {cfg}:2:16: health endpoint 127.0.0.1:{port} could not listen"
        " ([Errno 98] Address already in use)" in result.stderr
    ), result.stderr


def test_checks_that_never_return_keep_one_thread_each_and_the_app_exits(tmp_path: Path) -> None:
    (tmp_path / "stuck.py").write_text(
        "import time\n\ndef sleeps():\n    time.sleep(3600)\n\ndef spins():\n    while True:\n        pass\n"
    )
    cfg = config(
        tmp_path,
        """
        health:
          interval: 100ms
          timeout: 50ms
          checks:
            - {name: sleeps, kind: python, function: "stuck:sleeps"}
            - {name: spins, kind: python, function: "stuck:spins"}
        """,
    )
    env = apps.clean_env(
        {
            "OTELBUNDLE_CONFIG": str(cfg),
            "PYTHONPATH": str(tmp_path),
            "OTEL_SERVICE_NAME": "stuck",
            "OTEL_TRACES_EXPORTER": "none",
            "OTEL_METRICS_EXPORTER": "none",
            "OTEL_LOGS_EXPORTER": "none",
        }
    )
    result = apps.run(["python", HUNG], env)  # its timeout (60 s) is the bound on the exit
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout.strip().splitlines()[-1])
    assert min(report["skipped"].values()) >= 20, report
    assert report["threads"] == [
        "otelbundle-health",
        "otelbundle-health-sleeps",
        "otelbundle-health-spins",
    ], report
