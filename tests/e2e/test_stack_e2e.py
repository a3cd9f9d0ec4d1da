"""An instrumented request, followed through the real collector into Jaeger, Prometheus and VictoriaLogs."""

from __future__ import annotations

import time
import urllib.parse
import urllib.request
from pathlib import Path

from harness.apps import ExampleServices
from otelbundle.cli.backends import Backends, get_json, poll
from otelbundle.cli.stack import Stack, logsql
from otelbundle.cli.stack.logstore import VICTORIALOGS_URL
from tests.e2e.conftest import checkout


def test_trace_has_spans_from_both_services_in_jaeger(services: ExampleServices, backends: Backends) -> None:
    done = checkout(services)
    assert done.status == 200
    spans = poll(
        lambda: (
            (s := backends.trace(done.trace_id))
            and {x["service"] for x in s} >= {"storefront", "inventory"}
            and s
        ),
        timeout=60,
    )
    assert spans, f"trace {done.trace_id} not complete in Jaeger"
    names = {(s["service"], s["name"]) for s in spans}
    assert ("storefront", "POST /checkout") in names and ("inventory", "POST /reserve") in names
    by_id = {s["span_id"]: s for s in spans}
    inventory_server = next(s for s in spans if s["name"] == "POST /reserve")
    assert by_id[inventory_server["parent"]]["service"] == "storefront"


def test_span_metrics_and_system_metrics_in_prometheus(services: ExampleServices, backends: Backends) -> None:
    for _ in range(5):
        checkout(services)
    calls = poll(
        lambda: backends.promql('traces_span_metrics_calls_total{service_name="storefront"}'),
        timeout=90,
        interval=2,
    )
    assert calls, "span metrics from the collector's span_metrics connector never reached Prometheus"
    assert any(series["metric"].get("span_name") == "POST /checkout" for series in calls)
    memory = poll(
        lambda: backends.promql('process_memory_usage_bytes{service_name="inventory"}'),
        timeout=90,
        interval=2,
    )
    assert memory and float(memory[0]["value"][1]) > 0


def test_logs_of_one_request_are_found_in_victorialogs_by_trace_id(
    services: ExampleServices, backends: Backends
) -> None:
    done = checkout(services, sku="PEAR")
    query = logsql.build_logsql(done.trace_id)
    lines = poll(
        lambda: (found := logsql.lines(VICTORIALOGS_URL, query)) and len(found) >= 2 and found, timeout=60
    )
    assert lines, f"no log lines for trace {done.trace_id} in VictoriaLogs"
    assert any("checkout of 1 x PEAR" in line for line in lines)
    assert any("reserved 1 x PEAR" in line for line in lines)


def test_exception_stack_traces_reach_victorialogs_in_their_line(services: ExampleServices) -> None:
    """transform/log-store moves exception.stacktrace after the message: one record, as the console showed it."""
    done = checkout(services, sku="FAIL")
    assert done.status == 502
    query = logsql.build_logsql(done.trace_id, ["storefront"], "Traceback")
    lines = poll(lambda: logsql.lines(VICTORIALOGS_URL, query), timeout=60)
    assert lines, "the logged exception (with its stack moved into the line) did not reach VictoriaLogs"
    assert lines[0].startswith("inventory failed during checkout of FAIL\nTraceback (most recent call last):")
    now = time.time_ns()
    [entry] = logsql.query(VICTORIALOGS_URL, query, start_ns=now - 3600 * 10**9, end_ns=now, limit=10)
    assert "exception.stacktrace" not in entry.metadata, "the stack trace must not be kept twice"
    assert entry.metadata["exception.type"] == "HTTPError"
    assert entry.labels == {"service.name": "storefront"}, "one stream per service, not per process"


def test_jaeger_monitor_tab_reads_span_metrics(services: ExampleServices, backends: Backends) -> None:
    for _ in range(5):
        checkout(services)

    def calls() -> list[object]:
        # endTs is "now" at each poll: span metrics are flushed every 15 s.
        window = {
            "service": "storefront",
            "endTs": int(time.time() * 1000),
            "lookback": 600_000,
            "step": 60_000,
        }
        data = get_json(
            f"{backends.jaeger}/api/metrics/calls?{urllib.parse.urlencode({**window, 'ratePer': 600_000})}"
        )
        return [
            m
            for m in data.get("metrics", [])
            if any(p.get("gaugeValue", {}).get("doubleValue") for p in m.get("metricPoints", []))
        ]

    assert poll(calls, timeout=90, interval=3), "Jaeger's Monitor API returned no call rates for storefront"


def test_a_second_stack_reuses_the_running_one_and_leaves_it_running(stack: Stack, tmp_path: Path) -> None:
    """Another checkout or install with the same versions and configs: `stack up` reuses, `down` spares."""
    said: list[str] = []
    other = Stack(data_dir=tmp_path / "other-install", config_root=stack.config_root, say=said.append)
    other.up(timeout=30)
    reused = [line for line in said if "reusing" in line and str(stack.data_dir) in line]
    assert len(reused) == len(stack.components), said
    other.down()
    assert all(state.healthy for state in stack.status()), "down from the other install stopped our stack"


def test_the_jaeger_ui_is_the_real_one_not_the_placeholder(stack: Stack) -> None:
    with urllib.request.urlopen("http://127.0.0.1:16686/search", timeout=5) as response:
        page = response.read().decode()
    assert "not the Jaeger UI you are looking for" not in page, "Jaeger serves its placeholder page"
    assert "<title>Jaeger UI</title>" in page and "static/" in page
