"""Custom `python` checks used by the integration tests (imported by module:function)."""

from __future__ import annotations

import threading

release = threading.Event()


def hangs() -> str:
    release.wait(30)
    return "ok"


def raises() -> str:
    raise RuntimeError("payment provider misconfigured")


def degraded() -> tuple[str, str]:
    return "degraded", "queue 85% full"
