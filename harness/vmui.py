"""Reading VictoriaLogs' web UI (vmui, v1.52) as a person sees it, for the browser tests and screenshots.

vmui renders each log entry as a row of time, level and message; a multi-line message (a
stack trace) is shown wrapped, its newlines as spaces. So its page is compared as text with
runs of whitespace made one space, the way a person reads it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from playwright.sync_api import Page

# The link text deploy/jaeger/ui-config.json gives the trace page.
TRACE_LOGS_LINK = "Logs of this trace (VictoriaLogs)"


def flat(text: str) -> str:
    return " ".join(text.split())


def page_text(page: Page) -> str:
    return flat(page.inner_text("body", timeout=2000))


def query_box(page: Page) -> str:
    """The LogsQL in the Query field (what the link filled in)."""
    return page.locator("textarea").first.input_value(timeout=2000)


def missing_lines(page: Page, messages: list[str]) -> list[str]:
    """The messages (whole, stack traces included) that the page does not show."""
    shown = page_text(page)
    return [m for m in messages if flat(m) not in shown]
