"""The one grammar for durations, percentages, numbers and counts in every section.

- **Duration**: Prometheus style, ``500ms``, ``15s``, ``1m30s``, ``2h``, ``1d``, ``1y``
  (units ns, us, µs, ms, s, m, h, d, w, y = 365d as in Prometheus; each part may have
  decimals, and parts may come in any order: a superset of Prometheus'), or a bare
  number (``15``, ``"2.5"``), which is **seconds**, in every section. ``0`` is a
  duration only where a key allows zero (``for``, ``keep_firing_for``). At most
  :data:`MAX_DURATION_SECONDS` (about 292 years): what int64 nanoseconds hold, the
  bound of Prometheus' durations and of Python's thread waits (``threading.TIMEOUT_MAX``),
  so a value that reads well can never overflow a timer or a timestamp at run time.
- **Percentage**: ``80%`` or a bare ``80``, between 0 and 100 (health thresholds).
- **Number** (thresholds in rule expressions): ``0.05``, ``1e3``, ``5%`` (= 0.05) or a
  duration (as seconds); anything else is refused with :data:`NUMBER_HINT`.
- **Count** (queue sizes, ``max_group_keys``, ``min_spans``): a whole number, at
  least a minimum; ``1_000`` works (YAML), ``"1000"`` does not.

Every parser raises ValueError with a message; callers add the position.
NaN and infinity are never accepted.
"""

from __future__ import annotations

import math
import re

UNIT_SECONDS = {
    "ns": 1e-9,
    "us": 1e-6,
    "µs": 1e-6,
    "ms": 1e-3,
    "s": 1.0,
    "m": 60.0,
    "h": 3600.0,
    "d": 86400.0,
    "w": 604800.0,
    "y": 31536000.0,  # 365d, as Prometheus' model.ParseDuration (no leap days)
}
_UNITS = "ns|us|µs|ms|s|m|h|d|w|y"
DURATION_RE = re.compile(rf"(?:\d+(?:\.\d+)?(?:{_UNITS}))+")
"""A duration *with* units (rule expressions tell durations from plain numbers by it)."""
_PART = re.compile(rf"(\d+(?:\.\d+)?)({_UNITS})")
_PLAIN_NUMBER = re.compile(r"\d+(?:\.\d+)?")
DURATION_HINT = "use e.g. 500ms, 15s, 1m"
MAX_DURATION_SECONDS = 9_223_372_036.0
"""The longest duration: (2**63 - 1) ns, whole seconds (292 years); what Prometheus allows too."""


def _finite(number: float, value: object, what: str) -> float:
    if not math.isfinite(number):
        raise ValueError(f"{value!r} is not a {what}")
    return number


def _as_float(value: int | float, what: str) -> float:
    try:
        return _finite(float(value), value, what)
    except OverflowError:
        raise ValueError(f"{value!r} is too large for a {what}") from None


def parse_duration(value: object, *, allow_zero: bool = False) -> float:
    """Seconds from ``"250ms"``, ``"1m30s"``, ``15`` (seconds) or ``0`` where allowed; ValueError otherwise."""
    if isinstance(value, bool) or not isinstance(value, (int, float, str)):
        raise ValueError(f"{value!r} is not a duration ({DURATION_HINT})")
    if isinstance(value, (int, float)):
        seconds = _as_float(value, "duration")
    else:
        text = value.strip()
        # Written digits are never NaN; too many of them read as inf, which the bound below refuses.
        if _PLAIN_NUMBER.fullmatch(text):
            seconds = float(text)
        elif DURATION_RE.fullmatch(text):
            seconds = sum(float(number) * UNIT_SECONDS[unit] for number, unit in _PART.findall(text))
        else:
            raise ValueError(f"{text!r} is not a duration ({DURATION_HINT})")
    if seconds > MAX_DURATION_SECONDS:
        raise ValueError(
            f"{value!r} is longer than the longest duration, {MAX_DURATION_SECONDS:.0f}s (292 years)"
        )
    if seconds < 0 and allow_zero:
        raise ValueError(f"{value!r} must not be negative")
    if seconds <= 0 and not allow_zero:
        raise ValueError(f"{value!r} must be greater than zero")
    return seconds


def parse_percent(value: object) -> float:
    """``"80%"`` or ``80`` → 80.0, within 0..100."""
    if isinstance(value, bool) or not isinstance(value, (int, float, str)):
        raise ValueError(f"{value!r} is not a percentage (use e.g. 80%)")
    if isinstance(value, str):
        text = value.strip().removesuffix("%").strip()
        try:
            number = float(text)
        except ValueError:
            raise ValueError(f"{value!r} is not a percentage (use e.g. 80%)") from None
    else:
        number = _as_float(value, "percentage")
    if not 0 <= number <= 100:  # also false for NaN
        raise ValueError(f"{value!r} is outside 0%..100%")
    return number


NUMBER_HINT = "write a number (0.05, 2, 1e3), a percentage (5%) or a duration (300ms, 1m)"


def parse_number(value: object) -> float:
    """A threshold: a number, a percentage as a ratio (``5%`` → 0.05), or a duration in seconds."""
    if isinstance(value, bool) or not isinstance(value, (int, float, str)):
        raise ValueError(f"{value!r} is not a number")
    if isinstance(value, (int, float)):
        return _as_float(value, "number")
    text = value.strip()
    # float()'s own refusal ("could not convert string to float: 'five'") is Python's, not ours.
    try:
        if text.endswith("%"):
            return _finite(float(text[:-1]) / 100.0, value, "number")
        if DURATION_RE.fullmatch(text):
            return parse_duration(text, allow_zero=True)
        return _finite(float(text), value, "number")
    except ValueError as exc:
        if "could not convert" not in str(exc):
            raise
    raise ValueError(NUMBER_HINT)


def parse_count(value: object, *, minimum: int = 1, maximum: int | None = None) -> int:
    """A whole number of at least ``minimum`` and at most ``maximum`` (queue sizes, group limits)."""
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        which = {0: "a non-negative integer", 1: "a positive integer"}.get(
            minimum, f"an integer >= {minimum}"
        )
        raise ValueError(f"must be {which}")
    if maximum is not None and value > maximum:
        raise ValueError(f"must be at most {maximum}")
    return value


def format_duration(seconds: float) -> str:
    """The short form a human reads: ``250ms``, ``15s``, ``2m``, ``1.5h``."""
    if seconds == 0:
        return "0s"
    if seconds < 1:
        return f"{seconds * 1000:.4g}ms"
    if seconds < 60:
        return f"{seconds:g}s"
    if seconds < 3600:
        return f"{seconds / 60:g}m"
    return f"{seconds / 3600:g}h"
