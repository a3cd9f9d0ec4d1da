"""Headless Debian chromium driven by Playwright, for the browser tests and the docs' screenshots.

Playwright never downloads a browser of its own here (its CDN is unreachable, and
`playwright install` is not part of any setup): it drives the system's
``chromium``. Every launch gets a fresh user-data dir, so no test sees another's
cookies, local storage (Jaeger UI keeps settings there) or cache.

A check that fails saves the page's screenshot and text under
``test-artifacts/browser/<name>/`` and names both files in the assertion
message, so a red run shows what the browser showed.
"""

from __future__ import annotations

import os
import re
import shutil
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, NoReturn, TypeVar

if TYPE_CHECKING:
    from playwright.sync_api import BrowserContext, Page, ViewportSize

ROOT = Path(__file__).resolve().parents[1]
ARTIFACTS = ROOT / "test-artifacts" / "browser"
VIEWPORT: ViewportSize = {"width": 1280, "height": 800}
# No sandbox: the tests run as root (CI too), where chromium refuses to start with it.
# The rest keeps a headless run from calling home or doing work nobody looks at.
CHROMIUM_ARGS = (
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
)

T = TypeVar("T")


def chromium_path() -> str | None:
    """OTELBUNDLE_CHROMIUM when set, else ``chromium`` on PATH (Debian's /usr/bin/chromium)."""
    explicit = os.environ.get("OTELBUNDLE_CHROMIUM")
    if explicit:
        return explicit if os.access(explicit, os.X_OK) else None
    return shutil.which("chromium")


def unavailable() -> str | None:
    """Why a browser cannot be driven here (the skip/fail reason), or None when it can."""
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        return "playwright is not installed (pip install -e '.[dev]')"
    if chromium_path() is None:
        explicit = os.environ.get("OTELBUNDLE_CHROMIUM")
        if explicit:
            return f"OTELBUNDLE_CHROMIUM={explicit} is not an executable file"
        return "chromium not found on PATH (apt-get install chromium)"
    return None


@contextmanager
def launch(viewport: ViewportSize | None = None) -> Iterator[BrowserContext]:
    """A headless chromium with a fresh, throw-away user-data dir."""
    from playwright.sync_api import sync_playwright

    executable = chromium_path()
    if executable is None:
        raise RuntimeError(unavailable() or "chromium not found")
    with tempfile.TemporaryDirectory(prefix="otelbundle-chromium-") as profile, sync_playwright() as pw:
        context = pw.chromium.launch_persistent_context(
            profile,
            executable_path=executable,
            headless=True,
            args=list(CHROMIUM_ARGS),
            viewport=viewport or VIEWPORT,
        )
        try:
            yield context
        finally:
            context.close()


def artifact_dir(name: str) -> Path:
    """test-artifacts/browser/<name>/ with the name made safe for a path (pytest ids have [] and /)."""
    return ARTIFACTS / re.sub(r"[^A-Za-z0-9_.-]+", "_", name).strip("_")


class Viewer:
    """One page of a test: open it, wait for what a person would see, and on failure keep the evidence."""

    def __init__(self, page: Page, name: str) -> None:
        self.page = page
        self.name = name

    def goto(self, url: str, timeout: float = 30.0) -> None:
        self.page.goto(url, wait_until="domcontentloaded", timeout=timeout * 1000)

    def text(self) -> str:
        """The visible text of the page (empty while nothing is rendered)."""
        try:
            return self.page.inner_text("body", timeout=2000)
        except Exception:  # a page mid-navigation has no body yet
            return ""

    def save(self, label: str = "failure") -> tuple[Path, Path]:
        """Screenshot (PNG) and visible text of the page as it is now."""
        folder = artifact_dir(self.name)
        folder.mkdir(parents=True, exist_ok=True)
        png, txt = folder / f"{label}.png", folder / f"{label}.txt"
        try:
            self.page.screenshot(path=str(png), full_page=True, timeout=10_000)
        except Exception as exc:  # still write the text: it is often enough
            png = folder / f"{label}.png (not taken: {exc})"
        txt.write_text(f"URL: {self.page.url}\n\n{self.text()}\n")
        return png, txt

    def fail(self, expected: str) -> NoReturn:
        png, txt = self.save()
        seen = " ".join(self.text().split())[:600]
        raise AssertionError(
            f"{expected}\n  url: {self.page.url}\n  screenshot: {png}\n  page text: {txt}\n"
            f"  text seen: {seen!r}"
        )

    def act(self, what: str, action: Callable[[Page], object]) -> None:
        """Do something a person does (click, type); a Playwright error fails the test with evidence."""
        try:
            action(self.page)
        except Exception as exc:
            if not _is_playwright(exc):
                raise
            self.fail(f"could not {what}: {exc}")

    def until(
        self,
        check: Callable[[Page], T | None],
        *,
        expected: str,
        timeout: float,
        reload: bool = False,
        interval: float = 1.0,
    ) -> T:
        """Poll ``check(page)`` until it returns something truthy, reloading between tries if asked.

        Playwright errors inside ``check`` (an element not there yet) count as "not yet".
        After ``timeout`` seconds the test fails with ``expected`` and the saved evidence.
        """
        end = time.monotonic() + timeout
        while True:
            try:
                result = check(self.page)
            except Exception as exc:
                if not _is_playwright(exc):
                    raise
                result = None
            if result:
                return result
            if time.monotonic() >= end:
                self.fail(f"{expected} (not within {timeout:g} s)")
            self.page.wait_for_timeout(interval * 1000)
            if reload:
                try:
                    self.page.reload(wait_until="domcontentloaded", timeout=30_000)
                except Exception as exc:
                    if not _is_playwright(exc):
                        raise


def _is_playwright(exc: BaseException) -> bool:
    """Playwright's errors (an element not there yet, a timeout), as opposed to bugs in a check."""
    return type(exc).__module__.split(".")[0] == "playwright"
