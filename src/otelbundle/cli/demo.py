"""``otelbundle demo``: the whole promise in one command.

Brings the stack up (natively, or with Docker Compose when a Docker engine
answers), runs the example services under ``opentelemetry-instrument`` with the
example alert rules, sends traffic including failures, then shows a person what
to open: the trace in Jaeger, PromQL results, the trace's log lines in the log
store (VictoriaLogs, with a link to them in its web UI; or Loki) and the alert in
Alertmanager. Everything keeps running afterwards so it can be
explored; ``otelbundle demo --stop`` stops the services and the stack.
"""

from __future__ import annotations

import argparse
import contextlib
import functools
import os
import secrets
import shutil
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

from otelbundle.cli.backends import BackendError, Backends, poll
from otelbundle.cli.demo_traffic import request_status
from otelbundle.cli.diagnose import explain
from otelbundle.cli.logs import command_for_trace
from otelbundle.cli.logs_reader import LogReader
from otelbundle.cli.stack.logstore import LOKI, default_store, store_url, trace_logs_link

STOREFRONT_PORT = 8000
INVENTORY_PORT = 8001


def add_commands(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser("demo", help="run the stack and the example services, show where to look")
    parser.add_argument("--stop", action="store_true", help="stop the demo services and the stack")
    parser.add_argument("--examples", default=None, help="path of the examples/ folder (default: ./examples)")
    parser.set_defaults(func=run)


def _say(message: str) -> None:
    print(message, flush=True)


def _examples_dir(given: str | None) -> Path:
    path = Path(given) if given else Path.cwd() / "examples"
    if not (path / "storefront" / "app.py").is_file():
        raise SystemExit(
            f"otelbundle demo: no examples at {path}. The demo runs the example services of the otelbundle "
            "repository, which the package does not ship: run `make demo` in a checkout, or pass "
            "--examples DIR. The stack alone works anywhere: `otelbundle stack up`."
        )
    return path


def _state_dir() -> Path:
    """Where the demo keeps its services' pid files and logs; made only once the demo starts:
    a refused or stopping command writes nothing (a folder root made in another user's stack
    dir locked them out of it)."""
    base = os.environ.get("OTELBUNDLE_STACK_DIR") or os.path.expanduser("~/.local/share/otelbundle/stack")
    return Path(base) / "demo"


def _docker_available() -> bool:
    if shutil.which("docker") is None:
        return False
    return subprocess.run(["docker", "info"], capture_output=True, timeout=20).returncode == 0


def _stack(action: str, compose_file: Path) -> None:
    if _docker_available():
        verb = ["up", "-d", "--wait"] if action == "up" else ["down"]
        command = ["docker", "compose", "-f", str(compose_file), *verb]
    else:
        command = [sys.executable, "-m", "otelbundle.cli", "stack", action]
    _say(f"$ {' '.join(command)}")
    if subprocess.run(command).returncode != 0:
        raise SystemExit(f"otelbundle demo: `{' '.join(command)}` failed; see its output above")


def _start_service(name: str, app: Path, port: int, env: dict[str, str], state: Path) -> None:
    instrument = shutil.which(
        "opentelemetry-instrument", path=os.path.dirname(sys.executable)
    ) or shutil.which("opentelemetry-instrument")
    if instrument is None:
        raise SystemExit("otelbundle demo: opentelemetry-instrument not found; install otelbundle[examples]")
    log = open(state / f"{name}.log", "ab")  # noqa: SIM115 - handed to the child process
    process = subprocess.Popen(
        [instrument, sys.executable, str(app)],
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    (state / f"{name}.pid").write_text(str(process.pid))
    url = f"http://127.0.0.1:{port}/healthz"
    if not poll(lambda: request_status("GET", url, timeout=2) == 200, timeout=30, interval=0.3):
        raise SystemExit(f"otelbundle demo: {name} did not answer {url}; see {state / (name + '.log')}")
    _say(f"  {name} is up on http://127.0.0.1:{port} (log: {state / (name + '.log')})")


def _start_steady_traffic(base: str, state: Path) -> None:
    """A few requests a second in the background, so graphs and Jaeger's Monitor tab stay live."""
    log = open(state / "traffic.log", "ab")  # noqa: SIM115 - handed to the child process
    process = subprocess.Popen(
        [sys.executable, "-m", "otelbundle.cli.demo_traffic", base],
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    (state / "traffic.pid").write_text(str(process.pid))


def _stop_services(state: Path) -> list[str]:
    """Stop what the demo started (its pid files say what); returns what was stopped, as said."""
    stopped = []
    for pid_file in sorted(state.glob("*.pid")):
        with contextlib.suppress(ProcessLookupError, ValueError, PermissionError):
            pid = int(pid_file.read_text())
            if _is_demo_process(pid, pid_file.stem):
                os.killpg(pid, signal.SIGTERM)
                stopped.append(f"{pid_file.stem} (pid {pid})")
        pid_file.unlink(missing_ok=True)
    return stopped


def _is_demo_process(pid: int, name: str) -> bool:
    """Whether ``pid`` still runs what the demo started as ``name``: a pid file outlives its
    process (a reboot, a crash) and the number may since lead any other process group.
    Where /proc cannot tell, it is taken as the demo's."""
    try:
        command = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    except OSError:
        return not Path("/proc/self").exists()
    wanted = b"otelbundle.cli.demo_traffic" if name == "traffic" else f"{name}/app.py".encode()
    return any(part.endswith(wanted) for part in command)


def _traffic(base: str) -> str:
    """A burst of normal and failing requests; returns the trace id of one known checkout."""
    trace_id = secrets.token_hex(16)
    statuses: dict[int, int] = {}
    first = request_status(
        "POST", f"{base}/checkout", {"sku": "APPLE", "qty": 1}, f"00-{trace_id}-{secrets.token_hex(8)}-01"
    )
    statuses[first] = 1
    for i in range(60):
        code = request_status("GET", f"{base}/products")
        statuses[code] = statuses.get(code, 0) + 1
        code = request_status(
            "POST", f"{base}/checkout", {"sku": "FAIL" if i % 3 == 0 else "APPLE", "qty": 1}
        )
        statuses[code] = statuses.get(code, 0) + 1
    _say(f"  sent {sum(statuses.values())} requests, responses by status: {dict(sorted(statuses.items()))}")
    return trace_id


def _show(backends: Backends, trace_id: str) -> list[str]:
    """Print what a person should open; returns what could not be found (empty when all is there)."""
    missing: list[str] = []
    _say("\n== Traces (Jaeger)")
    spans = poll(lambda: backends.trace(trace_id), timeout=60)
    _say(f"  open http://127.0.0.1:16686/trace/{trace_id}")
    _say(f"  API  {backends.jaeger}/api/v3/traces/{trace_id}")
    for span in spans or []:
        _say(f"    {span['service']:<11} {span['name']}")
    if not spans:
        missing.append("the trace in Jaeger")
        _say("    (not found within 60 s)")
        _say(f"    why: {explain('traces')}")

    _say("\n== Metrics (Prometheus)")
    for query in (
        'sum by (service_name, span_name) (rate(traces_span_metrics_calls_total{service_name="storefront"}[1m]))',
        'max by (service_name) (process_memory_usage_bytes{service_name=~"storefront|inventory"})',
    ):
        result = poll(functools.partial(backends.promql, query), timeout=90, interval=2)
        _say(f"  {query}")
        for series in (result or [])[:6]:
            labels = ",".join(f"{k}={v}" for k, v in series["metric"].items())
            _say(f"    {{{labels}}} {series['value'][1]}")
        if not result:
            missing.append(f"PromQL result for {query}")
            _say("    (no data within 90 s)")
            _say(f"    why: {explain('metrics')}")
        _say(f"    {backends.prometheus}/graph?g0.expr={urllib.parse.quote(query)}")

    store = default_store()
    reader = LogReader(store, store_url(store))
    _say(f"\n== Logs ({reader.name})")
    query = reader.build(trace_id, ["storefront|inventory"] if store == LOKI else [], None)
    now = time.time_ns()
    found = poll(
        lambda: reader.read(
            query, start_ns=now - 3600 * 10**9, end_ns=time.time_ns(), limit=100, direction="forward"
        ),
        timeout=60,
    )
    _say(f"  {reader.language}: {query}")
    if store != LOKI:
        _say(f"  open {trace_logs_link(trace_id, reader.base)}")
        _say("       (also one click from the trace page in Jaeger: 'Logs of this trace')")
    _say(f"  read them: {command_for_trace(trace_id)}")
    for entry in (found or [])[:8]:
        _say(f"    {entry.line.splitlines()[0] if entry.line else ''}")
    if not found:
        missing.append(f"the trace's log lines in {reader.name}")
        _say("    (no lines within 60 s)")
        _say(f"    why: {explain('logs')}")

    _say("\n== Alerts (Alertmanager)")
    alerts = poll(
        lambda: [a for a in backends.alerts() if a.get("status", {}).get("state") == "active"], timeout=60
    )
    for alert in alerts or []:
        labels = alert.get("labels", {})
        _say(f"  {labels.get('alertname')} {labels} since {alert.get('startsAt')}")
        if alert.get("generatorURL"):
            _say(f"    -> {alert['generatorURL']}")
    if not alerts:
        missing.append("an active alert in Alertmanager")
        _say("  (no active alert within 60 s)")
        _say(f"  why: {explain('alerts')}; the services' own logs say whether their alerts were sent")
    _say(f"  {backends.alertmanager}/#/alerts")
    return missing


def run(args: argparse.Namespace) -> int:
    state = _state_dir()
    if args.stop:  # from anywhere: what to stop is in the state folder, not in the checkout
        stopped = _stop_services(state)
        _say(f"stopped {', '.join(stopped)}" if stopped else "no demo services were running")
        recorded = state / "compose-file"
        compose_file = Path(recorded.read_text()) if recorded.is_file() else Path("deploy/compose.yaml")
        _stack("down", compose_file)
        return 0
    examples = _examples_dir(args.examples)
    compose_file = examples.parent / "deploy" / "compose.yaml"
    state.mkdir(parents=True, exist_ok=True)
    (state / "compose-file").write_text(str(compose_file.resolve()))  # for --stop run elsewhere
    try:
        return _run(examples, compose_file, state)
    except KeyboardInterrupt:
        # The services and the traffic run in sessions of their own: Ctrl-C does not reach them.
        _stop_services(state)
        print(
            "\notelbundle demo: interrupted; stopped the example services and their traffic. The stack keeps "
            "running: `otelbundle stack status` shows it, `otelbundle stack down` stops it",
            file=sys.stderr,
            flush=True,
        )
        return 130


def _run(examples: Path, compose_file: Path, state: Path) -> int:
    _say("== Stack")
    _stack("up", compose_file)
    _stop_services(state)  # a previous demo's services would hold the ports
    _say("\n== Example services under opentelemetry-instrument")
    env = {
        **os.environ,
        "OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:4318",
        "OTEL_METRIC_EXPORT_INTERVAL": "5000",
        "OTEL_BSP_SCHEDULE_DELAY": "500",
        "OTEL_BLRP_SCHEDULE_DELAY": "500",
        "OTELBUNDLE_CONFIG": str(examples / "rules" / "otelbundle.yaml"),
        "ALERTMANAGER_URL": "http://127.0.0.1:9093",
        "INVENTORY_URL": f"http://127.0.0.1:{INVENTORY_PORT}",
        "INVENTORY_DB": str(state / "inventory.db"),
    }
    _start_service(
        "inventory",
        examples / "inventory" / "app.py",
        INVENTORY_PORT,
        {**env, "PORT": str(INVENTORY_PORT), "OTEL_SERVICE_NAME": "inventory"},
        state,
    )
    _start_service(
        "storefront",
        examples / "storefront" / "app.py",
        STOREFRONT_PORT,
        {**env, "PORT": str(STOREFRONT_PORT), "OTEL_SERVICE_NAME": "storefront"},
        state,
    )
    _say("\n== Traffic")
    trace_id = _traffic(f"http://127.0.0.1:{STOREFRONT_PORT}")
    _start_steady_traffic(f"http://127.0.0.1:{STOREFRONT_PORT}", state)
    _say("  light traffic goes on in the background (listings and failing checkouts, ~6 requests/s) so")
    _say("  rates and Jaeger's Monitor tab fill in over the next minutes; it stops with --stop or after 1 h")
    _say(f"  a checkout to follow: trace_id={trace_id}")
    time.sleep(2)
    try:
        missing = _show(Backends(), trace_id)
    except BackendError as exc:
        missing = [f"a backend answer ({exc})"]
    _say("\nEverything keeps running. Stop it with: otelbundle demo --stop")
    if missing:
        _say("\notelbundle demo: NOT everything arrived: " + "; ".join(missing))
        _say(f"  service logs: {state}/*.log; backend logs: otelbundle stack logs")
        return 1
    return 0
