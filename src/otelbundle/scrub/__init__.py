"""Secrets never leave the process: scrubbed copies of spans and log records go to the exporters.

See docs/secrets.md. The rules are in :mod:`otelbundle.scrub.rules` (shared
with the collector's config), applied by :class:`Scrubber` in the export path's
scrubbing step, :class:`otelbundle.scrub.copies.ScrubStep`.
"""

from __future__ import annotations

import threading

from otelbundle.config.report import diagnostics_logger
from otelbundle.scrub.copies import ScrubStep, log_step, span_step
from otelbundle.scrub.metrics import MetricsScrub
from otelbundle.scrub.rules import KEY_MASK, MARKER, PARAM_NAMES, RULES
from otelbundle.scrub.scrubber import FAILED_MARKER, HOOK_RESULT_IGNORED, Hook, Scrubber, ScrubStats
from otelbundle.scrub.section import ENV_VAR, ScrubSettings, scrub_settings_at_start
from otelbundle.scrub.sql import scrub_sql

__all__ = [
    "ENV_VAR",
    "FAILED_MARKER",
    "KEY_MASK",
    "MARKER",
    "PARAM_NAMES",
    "RULES",
    "Hook",
    "MetricsScrub",
    "ScrubSettings",
    "ScrubStats",
    "ScrubStep",
    "Scrubber",
    "build_scrubber",
    "current_hook",
    "log_step",
    "scrub_settings_at_start",
    "scrub_sql",
    "set_hook",
    "span_step",
]

_hook: Hook | None = None
_hook_lock = threading.Lock()


def set_hook(hook: Hook | None) -> None:
    """Programmatic rule: ``hook(where, value) -> value`` runs after the built-in rules on every
    string value (``where`` is the attribute key, "span.name", "span.status.message" or "log.body").
    Set it before the SDK is configured (``otelbundle.configure(scrub=hook)`` does)."""
    global _hook
    with _hook_lock:
        _hook = hook


def current_hook() -> Hook | None:
    return _hook


def build_scrubber(settings: ScrubSettings) -> Scrubber | None:
    """The scrubber for this process from its parsed ``scrub:`` settings, or None when turned off.

    Never raises: additions that cannot be compiled are reported and the built-in rules apply.
    """
    if not settings.enabled:
        return None
    log = diagnostics_logger()
    warned = threading.Event()

    def on_failure(what: str) -> None:
        if what.startswith(HOOK_RESULT_IGNORED):  # no value replaced; the scrubber says it once
            log.warning("otelbundle: %s.", what)
            return
        if not warned.is_set():
            warned.set()
            log.warning(
                "otelbundle: scrubbing failed (%s); the value was replaced by %r (or the record left out), "
                "never exported unscrubbed. Further failures are counted; a summary is printed at exit.",
                what,
                FAILED_MARKER,
            )

    try:
        return Scrubber(
            extra_patterns=settings.extra_patterns,
            extra_param_names=settings.extra_param_names,
            allowed_keys=settings.allowed_keys,
            hook=current_hook(),
            on_failure=on_failure,
        )
    except Exception as exc:
        log.error(
            "otelbundle: the scrub: additions could not be compiled (%s); using the built-in rules.", exc
        )
        return Scrubber(hook=current_hook(), on_failure=on_failure)
