"""What a person sees, in headless chromium against the real stack: Jaeger's search, trace and
Monitor pages, a failing trace's link to its log lines in VictoriaLogs' UI, an alert's link to
the trace that caused it, Alertmanager's alert list and Prometheus's graph page.

Every check polls, reloading the page, up to a stated bound. A failing check saves the page's
screenshot and text under test-artifacts/browser/<test>/ and names both in its message.
"""

from __future__ import annotations

import os
import re
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import pytest

from harness.apps import EXAMPLES, ExampleServices, clean_env, start_examples
from harness.browser import Viewer, launch, unavailable
from harness.jaeger_ui import (
    chart_points,
    choose_monitor_service,
    choose_option,
    monitor_charts_drawn,
    operation_row,
    span_rows,
)
from harness.vmui import TRACE_LOGS_LINK, missing_lines, query_box
from otelbundle.cli.backends import Backends, get_json, poll
from otelbundle.cli.demo_traffic import request_status
from otelbundle.cli.stack import Stack, logsql
from otelbundle.cli.stack.logstore import VICTORIALOGS_URL, trace_logs_link
from tests.e2e.conftest import checkout

if TYPE_CHECKING:
    from playwright.sync_api import BrowserContext, Page

_UNAVAILABLE = unavailable()
# Outside CI a machine without chromium or playwright skips before any fixture starts the stack;
# in CI (OTELBUNDLE_REQUIRE_STACK=1) the `chromium` fixture fails with the same reason.
pytestmark = pytest.mark.skipif(
    _UNAVAILABLE is not None and os.environ.get("OTELBUNDLE_REQUIRE_STACK") != "1",
    reason=_UNAVAILABLE or "",
)

ALERT_ENV = "browser-e2e"  # the examples' rules label alerts env=$DEPLOYMENT_ENV
STATUS_ERROR = 2  # OTLP Status.code ERROR, as Jaeger's v3 API returns it
TRAFFIC_LIMIT_S = 420.0  # the background traffic stops by itself after this long


@pytest.fixture(scope="session")
def chromium() -> Iterator[BrowserContext]:
    if _UNAVAILABLE is not None:
        pytest.fail(_UNAVAILABLE)  # only reached in CI: elsewhere pytestmark skipped
    with launch() as context:
        yield context


@pytest.fixture
def viewer(chromium: BrowserContext, request: pytest.FixtureRequest) -> Iterator[Viewer]:
    page = chromium.new_page()
    page.set_default_timeout(15_000)
    yield Viewer(page, request.node.name)
    page.close()


@dataclass
class Traffic:
    """Requests sent in the background, by response status."""

    statuses: dict[int, int] = field(default_factory=dict)
    started: float = field(default_factory=time.monotonic)


@pytest.fixture(scope="module", autouse=True)
def steady_traffic(services: ExampleServices) -> Iterator[Traffic]:
    """Product listings (200), failing checkouts (502) and checkouts of an unknown sku (404), ~5 per
    second while this module runs.

    Rates in Prometheus and Jaeger's Monitor need samples spread over time: the Monitor plots one
    point per 60-s step, so a line needs traffic across more than a minute. Bounded by
    TRAFFIC_LIMIT_S and stopped with the module.
    """
    traffic = Traffic()
    stop = threading.Event()

    def send() -> None:
        end = time.monotonic() + TRAFFIC_LIMIT_S
        while not stop.is_set() and time.monotonic() < end:
            # Nothing here takes stock: the session's other tests buy from the same inventory.
            for status in (
                request_status("GET", f"{services.storefront_url}/products"),
                checkout(services, "FAIL").status,
                checkout(services, "NO-SUCH-SKU").status,
            ):
                traffic.statuses[status] = traffic.statuses.get(status, 0) + 1
            stop.wait(0.5)

    thread = threading.Thread(target=send, name="steady-traffic", daemon=True)
    thread.start()
    yield traffic
    stop.set()
    thread.join(timeout=15)


@dataclass(frozen=True)
class ApiSpan:
    service: str
    name: str
    error: bool


def _api_spans(backends: Backends, trace_id: str) -> list[ApiSpan]:
    """The trace's spans as Jaeger's v3 API has them, with their OTLP error status."""
    data = get_json(f"{backends.jaeger}/api/v3/traces/{trace_id}")
    spans: list[ApiSpan] = []
    for resource_spans in data.get("result", {}).get("resourceSpans", []):
        attributes = resource_spans.get("resource", {}).get("attributes", [])
        service = next(
            (a["value"].get("stringValue", "") for a in attributes if a.get("key") == "service.name"), ""
        )
        for scope in resource_spans.get("scopeSpans", []):
            for span in scope.get("spans", []):
                error = span.get("status", {}).get("code") in (STATUS_ERROR, "STATUS_CODE_ERROR")
                spans.append(ApiSpan(service, span.get("name", ""), error))
    return spans


def _complete_trace(backends: Backends, trace_id: str, apps: ExampleServices) -> list[ApiSpan]:
    """The trace's spans once both services' server spans are in Jaeger and two reads 1 s apart
    agree (each service exports its spans in its own batches). A failure quotes the apps' own
    diagnostics (lines of otelbundle's logger)."""
    previous: list[ApiSpan] = []

    def fetch() -> list[ApiSpan] | None:
        nonlocal previous
        spans = _api_spans(backends, trace_id)
        names = {(s.service, s.name) for s in spans}
        complete = {("storefront", "POST /checkout"), ("inventory", "POST /reserve")} <= names
        settled = complete and len(spans) == len(previous)
        previous = spans
        return spans if settled else None

    spans = poll(fetch, timeout=30, interval=1.0)
    assert spans, (
        f"trace {trace_id} did not reach Jaeger's API with both services' server spans within 30 s; "
        f"last read: {previous}\n  the apps' otelbundle lines:\n{_diagnostics(apps)}"
    )
    return spans


def _diagnostics(apps: ExampleServices) -> str:
    lines = [
        f"    {program.args[-1]}: {line}"
        for program in (apps.storefront, apps.inventory)
        for line in program.output.splitlines()
        if "otelbundle" in line
    ]
    return "\n".join(lines[-20:]) or "    (none)"


def _open_trace(viewer: Viewer, backends: Backends, trace_id: str, expected: list[ApiSpan]) -> None:
    """Open /trace/<id> and wait until it draws one row per span the API has."""
    viewer.goto(f"{backends.jaeger}/trace/{trace_id}")

    def drawn(page: Page) -> bool:
        header = page.get_by_role("heading", level=1).first.inner_text(timeout=2000)
        return trace_id[:7] in header and len(span_rows(page)) == len(expected)

    viewer.until(
        drawn,
        expected=f"trace page of {trace_id} with its {len(expected)} spans ({expected})",
        timeout=30,
        reload=True,
    )


def _check_trace_rows(viewer: Viewer, trace_id: str, expected: list[ApiSpan]) -> None:
    rows = span_rows(viewer.page)
    seen = sorted((r["service"], r["name"], bool(r["error"])) for r in rows)
    wanted = sorted((s.service, s.name, s.error) for s in expected)
    if seen != wanted:
        viewer.fail(
            f"trace {trace_id}: rows (service, operation, error icon) {seen}, "
            f"expected the API's spans {wanted}"
        )


# ---- Jaeger: search ----------------------------------------------------------------------------


def test_jaeger_search_lists_both_services_and_finds_their_traces(
    viewer: Viewer, services: ExampleServices, backends: Backends
) -> None:
    ok = checkout(services)
    assert ok.status == 200
    _complete_trace(backends, ok.trace_id, services)
    viewer.goto(f"{backends.jaeger}/search")

    def services_listed(page: Page) -> list[str] | None:
        page.get_by_role("combobox").first.click()  # the Service select
        options = page.locator(".ant-select-dropdown .ant-select-item-option")
        options.first.wait_for(timeout=3000)
        names = [o.get_attribute("title") or o.inner_text() for o in options.all()]
        if {"storefront", "inventory"} <= set(names):
            return names
        page.keyboard.press("Escape")
        return None

    viewer.until(
        services_listed,
        expected="Jaeger's Service list offers storefront and inventory",
        timeout=30,
        reload=True,
    )

    def find_storefront_traces(page: Page) -> None:
        choose_option(page, "storefront")
        page.get_by_role("button", name="Find Traces").click()

    viewer.act("choose storefront and Find Traces", find_storefront_traces)

    def checkout_listed(page: Page) -> bool:
        results = page.get_by_role("listitem").filter(has_text=re.compile(r"storefront: POST /\s*checkout"))
        results.first.wait_for(timeout=5000)
        # One result shows the trace's services with span counts: "inventory (2)", "storefront (2)".
        return bool(results.filter(has_text=re.compile(r"inventory \(\d+\)")).count())

    viewer.until(
        checkout_listed,
        expected="search results for storefront list a 'storefront: POST /checkout' trace spanning inventory",
        timeout=30,
    )


# ---- Jaeger: a failing checkout's trace -----------------------------------------------------------


def test_jaeger_trace_page_marks_the_failing_spans_of_both_services(
    viewer: Viewer, services: ExampleServices, backends: Backends
) -> None:
    failing = checkout(services, "FAIL")
    assert failing.status == 502, f"a FAIL checkout answered {failing.status}, expected 502"
    spans = _complete_trace(backends, failing.trace_id, services)
    assert {s.service for s in spans if s.error} == {"storefront", "inventory"}, (
        f"the API's spans of {failing.trace_id} do not have errors in both services: {spans}"
    )
    _open_trace(viewer, backends, failing.trace_id, spans)
    _check_trace_rows(viewer, failing.trace_id, spans)

    # A person opens the inventory's failing span: its tags say why it is red.
    viewer.act(
        "open the inventory POST /reserve span",
        lambda page: (
            page.locator(".span-row .span-name")
            .filter(has_text="inventory")
            .filter(has_text="POST /reserve")
            .first.click()
        ),
    )
    viewer.until(
        lambda page: (
            "otel.status_code" in page.inner_text(".detail-row") and "ERROR" in page.inner_text(".detail-row")
        ),
        expected="the span's details show otel.status_code ERROR",
        timeout=10,
    )

    # The same page for a successful checkout shows no error icon: the marker is not decoration.
    ok = checkout(services)
    assert ok.status == 200
    ok_spans = _complete_trace(backends, ok.trace_id, services)
    assert not any(s.error for s in ok_spans), f"a successful checkout has error spans: {ok_spans}"
    _open_trace(viewer, backends, ok.trace_id, ok_spans)
    _check_trace_rows(viewer, ok.trace_id, ok_spans)


# ---- From a failing trace to its log lines (VictoriaLogs' UI) --------------------------------------


def _trace_logs(trace_id: str) -> list[str]:
    """The trace's log lines as VictoriaLogs' API has them, once two reads 1 s apart agree and the
    logger.exception lines (with their stack traces) are among them."""
    previous: list[str] = []

    def fetch() -> list[str] | None:
        nonlocal previous
        now = time.time_ns()
        found = logsql.query(
            VICTORIALOGS_URL,
            logsql.build_logsql(trace_id),
            start_ns=now - 3600 * 10**9,
            end_ns=now,
            limit=100,
        )
        lines = sorted(e.line for e in found)
        settled = (
            lines == previous and sum("Traceback (most recent call last)" in line for line in lines) >= 2
        )
        previous = lines
        return lines if settled else None

    lines = poll(fetch, timeout=60, interval=1.0)
    assert lines, (
        f"trace {trace_id}'s log lines with two stack traces did not reach VictoriaLogs; last: {previous}"
    )
    return lines


def test_a_failing_traces_logs_are_one_click_away_from_its_jaeger_page(
    viewer: Viewer, services: ExampleServices, backends: Backends
) -> None:
    """Jaeger's trace page links to the trace's lines in VictoriaLogs' UI (deploy/jaeger/ui-config.json);
    following it shows every line of the trace, the logger.exception stack traces included."""
    failing = checkout(services, "FAIL")
    assert failing.status == 502, f"a FAIL checkout answered {failing.status}, expected 502"
    spans = _complete_trace(backends, failing.trace_id, services)
    lines = _trace_logs(failing.trace_id)
    assert any("sqlite3.OperationalError: no such column" in line for line in lines), lines

    _open_trace(viewer, backends, failing.trace_id, spans)
    link = viewer.page.get_by_title(TRACE_LOGS_LINK)
    href = viewer.until(
        lambda page: link.first.get_attribute("href", timeout=2000),
        expected=f"the trace page has a '{TRACE_LOGS_LINK}' link (jaeger-ui linkPatterns)",
        timeout=10,
    )
    if href != trace_logs_link(failing.trace_id):
        viewer.fail(f"the trace's logs link is {href!r}, expected {trace_logs_link(failing.trace_id)!r}")

    # It opens in a new tab, as jaeger-ui's links do.
    with viewer.page.context.expect_page(timeout=15_000) as opened:
        viewer.act(f"click '{TRACE_LOGS_LINK}'", lambda page: link.first.click())
    logs = Viewer(opened.value, f"{viewer.name}-vmui")
    try:
        logs.until(
            lambda page: not missing_lines(page, lines),
            expected=f"VictoriaLogs' UI shows all {len(lines)} log lines of trace {failing.trace_id}, stack "
            f"traces included: {lines}",
            timeout=30,
            # No reloads: the lines were in VictoriaLogs before the click, and a reload every
            # second would never let the page finish its queries over 7 days.
        )
        if failing.trace_id not in query_box(logs.page):
            logs.fail(f"the Query field does not hold trace {failing.trace_id}")
        text = logs.text()
        for exception in (
            "sqlite3.OperationalError: no such column: no_such_column",
            "requests.exceptions.HTTPError",
        ):
            if exception not in " ".join(text.split()):
                logs.fail(f"the page does not show the logged exception {exception!r}")
    finally:
        logs.page.close()


# ---- Prometheus: the classic graph page ---------------------------------------------------------

SPAN_RATE = "sum by (service_name) (rate(traces_span_metrics_calls_total[1m]))"


def test_prometheus_graph_page_shows_span_metric_rates(
    viewer: Viewer, services: ExampleServices, backends: Backends
) -> None:
    ready = poll(
        lambda: [
            r
            for r in backends.promql(SPAN_RATE)
            if r["metric"].get("service_name") == "storefront" and float(r["value"][1]) > 0
        ],
        timeout=60,
        interval=2,
    )
    assert ready, f"Prometheus's API has no non-zero storefront series for {SPAN_RATE} within 60 s"
    viewer.goto(f"{backends.prometheus}/graph")  # redirects to the classic UI in Debian's 2.42

    def run_query(page: Page) -> None:
        page.get_by_role("textbox", name=re.compile("Expression")).fill(SPAN_RATE)
        page.get_by_role("button", name="Execute").click()
        page.get_by_role("tab", name="Console").click()

    viewer.act("type the query, Execute and open the Console tab", run_query)

    def storefront_row(page: Page) -> str | None:
        table = page.get_by_role("tabpanel").get_by_role("table")
        rows = table.get_by_role("row").filter(has_text='service_name="storefront"')
        rows.first.wait_for(timeout=3000)
        text = rows.first.inner_text()
        value = float(text.split()[-1])
        return text if value > 0 else None

    viewer.until(
        storefront_row,
        expected=f'the Console table of {SPAN_RATE} has a non-zero {{service_name="storefront"}} row',
        timeout=30,
        interval=2,
    )


# ---- Alerts: Alertmanager's UI and the link to the trace -----------------------------------------


@dataclass(frozen=True)
class FiringAlert:
    alert: dict[str, Any]
    failing: frozenset[str]  # trace ids of the checkouts that made it fire
    apps: ExampleServices


@pytest.fixture(scope="module")
def firing_alert(
    stack: Stack, backends: Backends, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[FiringAlert]:
    """The examples under the examples' own otelbundle.yaml (as `otelbundle demo` runs them), made
    to fire CheckoutErrors with failing checkouts; the alert as Alertmanager's API has it."""
    folder = tmp_path_factory.mktemp("browser-alerting")
    env = clean_env(
        {
            "OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:4318",
            "OTEL_BSP_SCHEDULE_DELAY": "200",
            "OTEL_BLRP_SCHEDULE_DELAY": "200",
            "OTELBUNDLE_CONFIG": str(EXAMPLES / "rules" / "otelbundle.yaml"),
            "DEPLOYMENT_ENV": ALERT_ENV,
        }
    )
    running = start_examples(env, folder)
    try:
        failing = [checkout(running, "FAIL") for _ in range(6)]  # the rule's min_spans is 5
        assert {c.status for c in failing} == {502}, [c.status for c in failing]
        ids = frozenset(c.trace_id for c in failing)

        def ours() -> list[dict[str, Any]]:
            return [
                a
                for a in backends.alerts("CheckoutErrors")
                if a.get("labels", {}).get("env") == ALERT_ENV and a["status"]["state"] == "active"
            ]

        alerts = poll(ours, timeout=30, interval=0.5)
        assert alerts, f"no active CheckoutErrors alert with env={ALERT_ENV} at Alertmanager within 30 s"
        yield FiringAlert(alerts[0], ids, running)
    finally:
        running.stop()


TRACE_LINK = re.compile(r"^(?P<base>https?://[^/]+)/trace/(?P<trace_id>[0-9a-f]{32})$")


def test_alert_link_opens_the_trace_that_caused_it(
    viewer: Viewer, firing_alert: FiringAlert, backends: Backends
) -> None:
    url = firing_alert.alert.get("generatorURL", "")
    link = TRACE_LINK.match(url)
    assert link, (
        f"generatorURL of the firing alert is {url!r}, expected {backends.jaeger}/trace/<trace id> "
        "(examples/rules/otelbundle.yaml generator_url)"
    )
    assert link["base"] == backends.jaeger, f"the alert links {url}, not the Jaeger UI at {backends.jaeger}"
    trace_id = link["trace_id"]
    assert trace_id in firing_alert.failing, (
        f"the alert links trace {trace_id}, not one of the failing checkouts that fired it: "
        f"{sorted(firing_alert.failing)}"
    )
    exemplars = firing_alert.alert["annotations"].get("trace_ids", "").split(",")
    assert trace_id == exemplars[0], f"link {trace_id} is not the alert's first exemplar {exemplars}"

    spans = _complete_trace(backends, trace_id, firing_alert.apps)
    viewer.goto(url)  # exactly what a person clicks
    viewer.until(
        lambda page: (
            trace_id[:7] in page.get_by_role("heading", level=1).first.inner_text(timeout=2000)
            and len(span_rows(page)) == len(spans)
        ),
        expected=f"the alert's link {url} shows trace {trace_id} with its {len(spans)} spans",
        timeout=30,
        reload=True,
    )
    if urllib.parse.urlsplit(viewer.page.url).path != f"/trace/{trace_id}":
        viewer.fail(f"the alert's link {url} ended at {viewer.page.url}, not /trace/{trace_id}")
    _check_trace_rows(viewer, trace_id, spans)


def test_alertmanager_ui_shows_the_firing_alert_with_its_labels(
    viewer: Viewer, firing_alert: FiringAlert, backends: Backends
) -> None:
    labels = firing_alert.alert["labels"]
    assert labels["env"] == ALERT_ENV
    shown = [f'{name}="{value}"' for name, value in sorted(labels.items())]
    # The demo's SLO burns too, and Alertmanager's list folds its groups once there is more than
    # one: a person narrows the filter to the alert they came for, as the link in a page would.
    matcher = urllib.parse.quote(
        f'{{env="{ALERT_ENV}",alertname="{labels["alertname"]}",source="{labels["source"]}"}}'
    )
    viewer.goto(f"{backends.alertmanager}/#/alerts?filter={matcher}")

    def all_labels_shown(page: Page) -> bool:
        text = page.inner_text("body")
        if all(label in text for label in shown):
            return True
        expand = page.get_by_text("Expand all groups")
        if expand.count():  # still folded (several groups): unfold them as a person would
            expand.first.click(timeout=2000)
        return all(label in page.inner_text("body") for label in shown)

    viewer.until(
        all_labels_shown,
        expected=f"Alertmanager's alert list shows the firing alert with labels {shown}",
        timeout=30,
        reload=True,
    )
    # Its "Source" link is the alert's generatorURL: the way from the alert to its trace.
    source = viewer.page.get_by_role("link", name="Source")
    href = viewer.until(
        lambda page: source.first.get_attribute("href", timeout=2000),
        expected="the alert has a Source link",
        timeout=10,
    )
    if href != firing_alert.alert["generatorURL"]:
        viewer.fail(f"the alert's Source link is {href!r}, expected {firing_alert.alert['generatorURL']!r}")


# ---- Jaeger: the Monitor tab (last: the background traffic has run longest by then) ---------------


def test_jaeger_monitor_tab_charts_storefront_latency_errors_and_rate(
    viewer: Viewer, steady_traffic: Traffic, backends: Backends
) -> None:
    viewer.goto(f"{backends.jaeger}/monitor")
    last: dict[str, Any] = {}

    def charted(page: Page) -> bool:
        choose_monitor_service(page, "storefront")
        page.get_by_role("heading", name=re.compile("^Latency")).wait_for(timeout=5000)
        row = operation_row(page, "POST /checkout")
        last.update(points=chart_points(page), row=row)
        # Empty metrics read "< 0.1μs" for the P95 latency and "No Data" for the error rate.
        values = len(row) >= 4 and not row[1].startswith("<") and row[3] != "No Data"
        return monitor_charts_drawn(page) and values

    try:
        viewer.until(
            charted,
            expected="Monitor for storefront draws lines (>= 2 points) in Latency, Error rate and Request "
            "rate, and its POST /checkout row has a P95 latency and an error rate",
            timeout=180,
            reload=True,
            interval=5,
        )
    except AssertionError as exc:
        elapsed = time.monotonic() - steady_traffic.started
        raise AssertionError(
            f"{exc}\n  last seen: points per chart {last.get('points')}, POST /checkout row "
            f"{last.get('row')}\n  background traffic: {steady_traffic.statuses} over {elapsed:.0f} s"
        ) from None
