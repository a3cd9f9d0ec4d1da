"""Regexes that Python's ``re`` could spend days on, refused when a config or rule file loads.

Prometheus and Alertmanager use Go's RE2, which matches in time linear in the value.
Python's ``re`` backtracks, and holds the GIL while it does, so a rule's regex (or a
``scrub.extra_patterns`` entry) over a span attribute or log line that an attacker
controls (a URL, a user agent) could freeze the whole application, not only the
thread that runs it. The shapes that backtrack exponentially are
refused at load (:func:`backtracking_hazard`); predicates.py also caps the length of
the value a ``where:`` regex reads, which bounds the polynomial cases (``.*.*x``).
"""

from __future__ import annotations

import re
import warnings
from dataclasses import dataclass

_COUNTED = re.compile(r"\{(\d*)(,?)(\d*)\}")


def compile_user_regex(regex: str) -> re.Pattern[str]:
    """``re.compile`` of a regex from a rule or config file, the same on every Python we support:
    what 3.11 refuses and 3.10 only warns about (flags such as ``(?i)`` after the start, which
    3.10 then applies to the whole pattern) raises ``re.error`` on 3.10 too."""
    with warnings.catch_warnings():
        warnings.simplefilter("error", DeprecationWarning)
        try:
            return re.compile(regex)
        except DeprecationWarning as warning:
            raise re.error(str(warning)) from None


def _repeat_at(regex: str, at: int) -> tuple[str, int]:
    """The quantifier at ``at``: "unbounded" (``*`` ``+`` ``{n,}``), "counted" (``{n,m}`` with
    m > 1), "fixed" (``{n}``, n > 1), "optional" (``?``, ``{0,1}``) or "" (none, ``{1}``),
    and its length."""
    char = regex[at : at + 1]
    if char in ("*", "+"):
        return "unbounded", 1
    if char == "?":
        return "optional", 1
    counted = _COUNTED.match(regex, at) if char == "{" else None
    if counted is None:
        return "", 0
    low, comma, high = counted.groups()
    if comma and not high:
        return "unbounded", counted.end() - at
    if not comma:
        return ("fixed" if int(low or 0) > 1 else ""), counted.end() - at
    most = int(high or 0)
    return ("counted" if most > 1 else "optional"), counted.end() - at


@dataclass
class _Group:
    start: int
    unbounded: bool = False  # holds a part repeated without bound
    varies: bool = False  # holds a part of variable length: any quantifier
    alternates: bool = False  # holds alternatives

    def take(self, inner: _Group, kind: str) -> None:
        self.unbounded = self.unbounded or inner.unbounded or kind == "unbounded"
        self.varies = self.varies or inner.varies or kind in ("unbounded", "counted", "optional")
        self.alternates = self.alternates or inner.alternates


def backtracking_hazard(regex: str) -> tuple[int, str] | None:
    """Where ``regex`` repeats a group that can match the same text in many ways, or None.

    Python's ``re`` backtracks, and holds the GIL while it does: ``(a+)+$`` on forty
    ``a`` and a ``!`` runs for days, and the application's threads wait meanwhile (Go's
    RE2 runs in linear time, so Prometheus never meets this). Refused: a group repeated
    without bound (``*``, ``+``, ``{n,}``) that holds any quantifier or alternatives
    (``(a+)+``, ``(a?a?)*``, ``(a|aa)+``), and a group repeated a counted number of times
    that holds a part repeated without bound (``(a+){10}``); ``(\\d{1,3}\\.){3}`` passes.
    Returns (offset of the group, what is wrong) when refused."""
    stack = [_Group(0)]
    at = 0
    while at < len(regex):
        char = regex[at]
        if char == "\\":
            at += 2
        elif char == "[":
            at = _class_end(regex, at)
        elif char == "(":
            stack.append(_Group(at))
            at += 2 if regex[at + 1 : at + 2] == "?" else 1  # (?: (?P<..> (?i): not a quantifier
        elif char == "|":
            stack[-1].alternates = True
            at += 1
        elif char == ")" and len(stack) > 1:
            inner = stack.pop()
            kind, length = _repeat_at(regex, at + 1)
            group = regex[inner.start : at + 1 + length]
            if kind == "unbounded" and (inner.varies or inner.alternates):
                held = "a quantifier" if inner.varies else "alternatives"
                return inner.start, f"{group!r} repeats without bound a group that holds {held}"
            if kind in ("counted", "fixed") and inner.unbounded:
                return inner.start, f"{group!r} repeats a group that holds a part repeated without bound"
            stack[-1].take(inner, kind)
            at += 1 + length
        else:
            kind, length = _repeat_at(regex, at)
            stack[-1].take(_Group(at), kind)
            at += max(length, 1)
    return None


def _class_end(regex: str, at: int) -> int:
    """The index after the character class opening at ``at`` (``[]a]`` and ``[^]a]`` hold a ']')."""
    at += 1
    if regex[at : at + 1] == "^":
        at += 1
    if regex[at : at + 1] == "]":
        at += 1
    while at < len(regex) and regex[at] != "]":
        at += 2 if regex[at] == "\\" else 1
    return at + 1


BACKTRACKING_HINT = (
    "Python's regexes backtrack, and such a group can take exponential time on a value that "
    "almost matches; write it so each character can match one way, e.g. [\\w.]+ for (\\w+\\.)+"
)
