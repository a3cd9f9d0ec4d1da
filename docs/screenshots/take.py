"""Screenshots of what `otelbundle demo` shows, for the README, taken from a running demo.

    .venv/bin/otelbundle demo                     # leaves the stack and the example services running
    .venv/bin/python docs/screenshots/take.py     # or: make screenshots
    .venv/bin/otelbundle demo --stop

Writes 1280x800 PNGs next to this file: the trace of a failing checkout in Jaeger, that trace's
log lines in VictoriaLogs' UI (opened by the trace page's "Logs of this trace" link), Jaeger's
Monitor tab for storefront, the firing alert in Alertmanager and a span-metrics graph in
Prometheus. The Monitor plots one point per minute and the demo sends one burst, which draws no
line; so before that shot this script sends light traffic to the demo's storefront (listings,
failing checkouts, unknown skus: no stock is taken) until the charts draw lines, at most
--traffic-seconds.
"""

from __future__ import annotations

import argparse
import re
import sys
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path
from typing import TYPE_CHECKING

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "src"))

from harness.browser import Viewer, launch, unavailable  # noqa: E402
from harness.jaeger_ui import (  # noqa: E402
    choose_monitor_service,
    choose_monitor_timeframe,
    monitor_charts_drawn,
    span_rows,
)
from harness.vmui import TRACE_LOGS_LINK, missing_lines  # noqa: E402
from otelbundle.cli.backends import Backends, poll  # noqa: E402
from otelbundle.cli.demo_traffic import request_status  # noqa: E402
from otelbundle.cli.stack import logsql  # noqa: E402
from otelbundle.cli.stack.logstore import VICTORIALOGS_URL  # noqa: E402

if TYPE_CHECKING:
    from playwright.sync_api import Page

OUT = Path(__file__).resolve().parent
MAX_BYTES = 300_000
SPAN_RATES = (
    'sum by (span_name) (rate(traces_span_metrics_calls_total{service_name="storefront", '
    'span_kind="SPAN_KIND_SERVER"}[1m]))'
)


def _traffic(storefront: str, stop: threading.Event, limit: float) -> None:
    end = time.monotonic() + limit
    while not stop.is_set() and time.monotonic() < end:
        request_status("GET", f"{storefront}/products")
        request_status("POST", f"{storefront}/checkout", {"sku": "FAIL", "qty": 1})
        request_status("POST", f"{storefront}/checkout", {"sku": "NO-SUCH-SKU", "qty": 1})
        stop.wait(0.5)


def _alert_trace(backends: Backends) -> str | None:
    """The trace id that the firing CheckoutErrors alert links to."""
    for alert in backends.alerts("CheckoutErrors"):
        found = re.search(r"/trace/([0-9a-f]{32})$", alert.get("generatorURL", ""))
        if alert.get("status", {}).get("state") == "active" and found:
            return found.group(1)
    return None


def _save(viewer: Viewer, name: str, full_page: bool = False) -> Path:
    path = OUT / f"{name}.png"
    viewer.page.screenshot(path=str(path), full_page=full_page)
    size = path.stat().st_size
    if size > MAX_BYTES:
        raise SystemExit(f"{path} is {size} bytes, more than {MAX_BYTES}")
    print(f"  {path.relative_to(ROOT)} ({size // 1000} KB)")
    return path


def jaeger_trace(viewer: Viewer, backends: Backends, trace_id: str) -> None:
    viewer.goto(f"{backends.jaeger}/trace/{trace_id}")
    viewer.until(
        lambda page: len(span_rows(page)) >= 2 and trace_id[:7] in page.inner_text("h1"),
        expected=f"the trace page of {trace_id}",
        timeout=30,
        reload=True,
    )
    # The root cause: the deepest failing span, opened to show its status and exception.
    failing = [i for i, row in enumerate(span_rows(viewer.page)) if row["error"]]
    if failing:
        viewer.page.locator(".span-row .span-name").nth(failing[-1]).click()
        viewer.page.locator(".detail-row").first.wait_for()
    _save(viewer, "jaeger-trace")


def trace_logs(viewer: Viewer, trace_id: str) -> None:
    """From the trace page (open in ``viewer``), its logs link: the lines in VictoriaLogs' UI."""
    lines = [
        e.line
        for e in logsql.query(
            VICTORIALOGS_URL,
            logsql.build_logsql(trace_id),
            start_ns=time.time_ns() - 3600 * 10**9,
            end_ns=time.time_ns(),
            limit=100,
        )
    ]
    with viewer.page.context.expect_page() as opened:
        viewer.page.get_by_title(TRACE_LOGS_LINK).first.click()
    logs = Viewer(opened.value, "screenshots-vmui")
    logs.until(
        lambda page: lines and not missing_lines(page, lines),
        expected=f"VictoriaLogs' UI shows the {len(lines)} log lines of {trace_id}",
        timeout=30,
    )
    _save(logs, "victorialogs-trace-logs", full_page=True)  # down to the last stack trace
    logs.page.close()


def jaeger_monitor(viewer: Viewer, backends: Backends, storefront: str, limit: float) -> None:
    stop = threading.Event()
    sender = threading.Thread(target=_traffic, args=(storefront, stop, limit), daemon=True)
    sender.start()
    try:
        viewer.goto(f"{backends.jaeger}/monitor")

        def drawn(page: Page) -> bool:
            choose_monitor_service(page, "storefront")
            choose_monitor_timeframe(page, "Last 5 minutes")
            return monitor_charts_drawn(page)

        viewer.until(
            drawn,
            expected="the Monitor's three charts for storefront draw lines",
            timeout=limit,
            reload=True,
            interval=5,
        )
    finally:
        stop.set()
        sender.join(timeout=15)
    _save(viewer, "jaeger-monitor")


def alertmanager(viewer: Viewer, backends: Backends) -> None:
    # The demo's SLO burns too; with more than one group listed, Alertmanager folds them all.
    matcher = urllib.parse.quote('{alertname="CheckoutErrors",source="in-process"}')
    viewer.goto(f"{backends.alertmanager}/#/alerts?filter={matcher}")
    viewer.until(
        lambda page: 'alertname="CheckoutErrors"' in page.inner_text("body"),
        expected="Alertmanager's UI lists CheckoutErrors",
        timeout=30,
        reload=True,
    )
    # Its annotations: the summary and the exemplar trace ids.
    viewer.act("open the alert's Info", lambda page: page.get_by_text("Info", exact=True).first.click())
    _save(viewer, "alertmanager-alert")


def prometheus(viewer: Viewer, backends: Backends) -> None:
    query = urllib.parse.quote(SPAN_RATES)
    viewer.goto(f"{backends.prometheus}/classic/graph?g0.range_input=5m&g0.tab=0&g0.expr={query}")
    viewer.until(
        lambda page: 'span_name="POST /checkout"' in page.inner_text("body"),
        expected="Prometheus's graph of span rates has a POST /checkout series",
        timeout=30,
        reload=True,
    )
    _save(viewer, "prometheus-span-metrics", full_page=True)  # with the legend below the graph


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    parser.add_argument("--trace-id", help="trace to show (default: the one the firing CheckoutErrors links)")
    parser.add_argument("--storefront", default="http://127.0.0.1:8000", help="the demo's storefront")
    parser.add_argument("--traffic-seconds", type=float, default=180.0, help="bound on the Monitor's wait")
    args = parser.parse_args()
    reason = unavailable()
    if reason:
        raise SystemExit(f"take.py: {reason}")
    backends = Backends()
    trace_id = args.trace_id or poll(lambda: _alert_trace(backends), timeout=30)
    if not trace_id:
        raise SystemExit("take.py: no firing CheckoutErrors alert to take a trace from; is the demo running?")
    print(f"screenshots of the running demo (trace {trace_id}):")
    with launch() as context:
        viewer = Viewer(context.new_page(), "screenshots")
        jaeger_trace(viewer, backends, trace_id)
        trace_logs(viewer, trace_id)
        alertmanager(viewer, backends)
        jaeger_monitor(viewer, backends, args.storefront, args.traffic_seconds)
        prometheus(viewer, backends)
    return 0


if __name__ == "__main__":
    sys.exit(main())
