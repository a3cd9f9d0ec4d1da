"""Reading jaeger-ui v1.76 pages as a person sees them: trace rows, the Monitor's charts.

jaeger-ui gives these no roles or text to select by: a span's error marker is an icon
(``.SpanBarRow--errorIcon``) and a chart is a recharts SVG whose drawn points are in its
paths' ``d`` attributes. The selectors are kept here, in one place, for the browser tests
and the docs' screenshot script.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, TypedDict

if TYPE_CHECKING:
    from playwright.sync_api import Page

MONITOR_CHARTS = ("Latency", "Error rate", "Request rate")  # titles start so ("Latency (ms)")


class SpanRow(TypedDict):
    service: str
    name: str
    error: bool


def span_rows(page: Page) -> list[SpanRow]:
    """The trace timeline's rows: service, operation and whether the error icon is shown."""
    rows: list[SpanRow] = page.eval_on_selector_all(
        ".span-row .span-name",
        """els => els.map(e => ({
            service: (e.querySelector('.span-svc-name')?.textContent || '').trim(),
            name: (e.querySelector('.endpoint-name')?.textContent || '').trim(),
            error: e.querySelector('.SpanBarRow--errorIcon') !== null,
        }))""",
    )
    return rows


def chart_points(page: Page) -> dict[str, int]:
    """Points drawn in each Monitor chart, by title: the fewest over the chart's curves.

    A curve's points are the M/L/C commands of its path; one point draws nothing a person
    can see, so a chart with data over time has at least two.
    """
    points: dict[str, int] = page.eval_on_selector_all(
        ".graph-container",
        """els => Object.fromEntries(els.map(c => {
            const title = (c.querySelector('.graph-header')?.textContent || '').trim();
            const curves = [...c.querySelectorAll('path.recharts-area-curve, path.recharts-line-curve')];
            const counts = curves.map(p => ((p.getAttribute('d') || '').match(/[MLC]/g) || []).length);
            return [title, counts.length ? Math.min(...counts) : 0];
        }))""",
    )
    return points


def monitor_charts_drawn(page: Page) -> bool:
    """All three Monitor charts are there and each draws a line (at least two points)."""
    points = chart_points(page)
    titles = [t for t in points if t.startswith(MONITOR_CHARTS)]
    return len(titles) == len(MONITOR_CHARTS) and all(points[t] >= 2 for t in titles)


def choose_option(page: Page, text: str) -> None:
    """Click the option ``text`` of the open antd select, the one a person sees. Not
    ``get_by_text`` over the whole dropdown: antd also renders a hidden accessibility copy
    (``role=option``) of the options around the active one, so whether a name matches once
    or twice depends on the list (with Jaeger's own traces gone from it, "storefront" was
    the active option's neighbour and matched twice)."""
    page.locator(".ant-select-dropdown .ant-select-item-option-content").get_by_text(text, exact=True).click()


def choose_monitor_service(page: Page, service: str) -> None:
    """Pick ``service`` in the Monitor tab's Service select (a fresh profile shows the first one)."""
    if service in page.locator(".ant-select").first.inner_text(timeout=2000):
        return
    page.get_by_role("combobox").first.click()
    choose_option(page, service)


def choose_monitor_timeframe(page: Page, label: str) -> None:
    """Pick a timeframe ("Last 5 minutes", "Last Hour"...) in the Monitor tab."""
    select = page.locator(".select-a-timeframe-input")
    if select.inner_text(timeout=2000).strip() == label:
        return
    select.click()
    choose_option(page, label)


def operation_row(page: Page, operation: str) -> list[str]:
    """A row of the Monitor's operations table: name, P95 latency, request rate, error rate."""
    row = page.get_by_role("row").filter(has_text=operation).first
    return [c.strip() for c in row.inner_text(timeout=2000).split("\t") if c.strip()]
