"""Secrets never leave the process: scrubbed copies of spans and log records go to the exporters.

See docs/secrets.md. The rules are in :mod:`otelbundle.scrub.rules` (shared
with the collector's config), applied by :class:`Scrubber` through the exporter
wrappers in :mod:`otelbundle.scrub.copies`.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping

from otelbundle.scrub.copies import ScrubbingLogExporter, ScrubbingSpanExporter
from otelbundle.scrub.rules import KEY_MASK, MARKER, PARAM_NAMES, RULES
from otelbundle.scrub.scrubber import FAILED_MARKER, Hook, Scrubber, ScrubStats, scrub_sql
from otelbundle.scrub.section import ENV_VAR, ScrubSettings, load_scrub_at_start

__all__ = [
    "ENV_VAR",
    "FAILED_MARKER",
    "KEY_MASK",
    "MARKER",
    "PARAM_NAMES",
    "RULES",
    "Hook",
    "ScrubSettings",
    "ScrubStats",
    "Scrubber",
    "ScrubbingLogExporter",
    "ScrubbingSpanExporter",
    "build_scrubber",
    "current_hook",
    "scrub_sql",
    "set_hook",
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


def build_scrubber(config_path: str | None, env: Mapping[str, str]) -> Scrubber | None:
    """The scrubber for this process, or None when turned off. Reports config problems; never raises."""
    from otelbundle.sdk.export.report import diagnostics_logger

    log = diagnostics_logger()
    try:
        settings, problems = load_scrub_at_start(config_path, env)  # logs via otelbundle.config
    except Exception as exc:
        log.error("otelbundle: the scrub: settings could not be read (%s); using the built-in rules.", exc)
        settings, problems = ScrubSettings(), []
    if problems:
        log.error(
            "otelbundle: problems in the scrub: settings; those entries are ignored, the built-in rules apply:\n%s",
            "\n".join(str(p) for p in problems),
        )
    if not settings.enabled:
        return None
    warned = threading.Event()

    def on_failure(what: str) -> None:
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
