"""Prometheus-style durations (``250ms``, ``1m30s``, ``0``) and ratios (``5%``, ``0.05``)."""

from __future__ import annotations

import re

DURATION_RE = re.compile(r"(?:\d+(?:\.\d+)?(?:ns|us|ms|s|m|h))+")
_PART = re.compile(r"(\d+(?:\.\d+)?)(ns|us|ms|s|m|h)")
_SECONDS = {"ns": 1e-9, "us": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0, "h": 3600.0}


def parse_duration(value: object, *, allow_zero: bool = False) -> float:
    """Seconds from ``"250ms"``, ``"1m30s"`` (or ``0`` when allowed); ValueError otherwise."""
    if isinstance(value, bool):
        raise ValueError(f"{value!r} is not a duration")
    if isinstance(value, (int, float)):
        if value == 0 and allow_zero:
            return 0.0
        raise ValueError(f"{value!r} needs a unit (ns, us, ms, s, m, h), e.g. {value}s")
    text = str(value).strip()
    if text == "0" and allow_zero:
        return 0.0
    if not DURATION_RE.fullmatch(text):
        raise ValueError(f"{text!r} is not a duration (use e.g. 250ms, 30s, 1m30s)")
    seconds = sum(float(number) * _SECONDS[unit] for number, unit in _PART.findall(text))
    if seconds == 0 and not allow_zero:
        raise ValueError(f"{text!r} must be greater than zero")
    return seconds


def parse_number(value: object) -> float:
    """A threshold: a number, a ratio with ``%``, or a duration (as seconds)."""
    if isinstance(value, bool):
        raise ValueError(f"{value!r} is not a number")
    if isinstance(value, (int, float)):
        return float(value)
    text = str(value).strip()
    if text.endswith("%"):
        return float(text[:-1]) / 100.0
    if DURATION_RE.fullmatch(text):
        return parse_duration(text, allow_zero=True)
    return float(text)


def format_duration(seconds: float) -> str:
    if seconds == 0:
        return "0s"
    if seconds < 1:
        return f"{seconds * 1000:.4g}ms"
    if seconds < 60:
        return f"{seconds:g}s"
    if seconds < 3600:
        return f"{seconds / 60:g}m"
    return f"{seconds / 3600:g}h"
