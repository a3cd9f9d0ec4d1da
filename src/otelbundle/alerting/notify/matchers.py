"""Alertmanager label matchers: ``name="value"``, ``name!="value"``, ``name=~"regex"``, ``name!~"regex"``.

The syntax of Alertmanager's ``matchers:`` (``route`` and ``inhibit_rules``), so
a routing line can be copied between the two: one matcher per list item, or
several separated by commas, optionally in braces (``{team="shop", env!="dev"}``).
Values are double-quoted or bare (``severity=critical``). A quoted value is read
as Alertmanager reads it: ``\\"``, ``\\\\`` and ``\\n`` are escapes and any other
backslash stays as written, so ``code=~"5\\d\\d"`` is the regex ``5\\d\\d``.
Label names are ``[A-Za-z_][A-Za-z0-9_]*`` (the only names alerts carry: a dotted
attribute such as ``http.route`` is the label ``http_route``, and a matcher on the
dotted name is refused, as it would never match) or double-quoted. As in
Alertmanager, a label the alert lacks has the value ``""`` (``team=""`` matches an
alert without ``team``), and a regex must match the whole value: it is anchored
as ``^(?:regex)$``, with leading flags such as ``(?i)`` kept in front. Regexes use
Python's ``re``, which agrees with Go's RE2 on the usual forms (classes,
alternation, repetition); what only ``re`` has (look-around, back-references,
conditionals) is refused, as Alertmanager would refuse it.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field

from otelbundle.alerting.re2 import re2_unsupported
from otelbundle.config.regex_safety import BACKTRACKING_HINT, backtracking_hazard, compile_user_regex

OPERATORS = ("=~", "!~", "!=", "=")
_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_.]*")
_BARE_VALUE = re.compile(r'[^\s,{}"]+')
_LABEL = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_ESCAPES = {"\\": "\\", '"': '"', "n": "\n"}
_LEADING_FLAGS = re.compile(r"\(\?[A-Za-z]+\)")


def _unquote(raw: str) -> str:
    """``raw`` (between the quotes) as Alertmanager reads it: ``\\\\``, ``\\"`` and ``\\n`` are
    escapes, any other backslash stays as written (its classic parser, which 0.27 and later still
    use whenever their UTF-8 parser reads a value differently: ``"a\\tb"`` is a, backslash, t, b)."""
    out: list[str] = []
    at = 0
    while at < len(raw):
        if raw[at] == "\\" and at + 1 < len(raw):
            out.append(_ESCAPES.get(raw[at + 1], raw[at : at + 2]))
            at += 2
        else:
            out.append(raw[at])
            at += 1
    return "".join(out)


def compile_regex(value: str) -> re.Pattern[str]:
    """Alertmanager's ``^(?:value)$`` (used with fullmatch); Go lets flags such as ``(?i)`` open the
    pattern inside that group, Python only at its very start, so leading flags are moved there."""
    flags = _LEADING_FLAGS.match(value)
    if flags is None:
        return compile_user_regex(f"(?:{value})")
    return compile_user_regex(f"{flags.group()}(?:{value[flags.end() :]})")


_WRAPPER = len("(?:")


def _in_user_terms(value: str, exc: re.error) -> str:
    """``exc`` (of the anchored pattern) said of ``value`` as written: its positions are shifted
    by the ``(?:`` around it, and its closing ``)`` can become part of the error (``[a-`` read
    as the range ``a-)``). The pattern alone gives re's own error for what the user wrote."""
    try:
        compile_user_regex(value)
    except re.error as own:
        return str(own)
    if exc.pos is None:  # only the anchoring fails it: said as re says it, shifted back
        return exc.msg
    return f"{exc.msg} at position {max(0, exc.pos - _WRAPPER)}"


class MatcherError(ValueError):
    """A matcher that cannot be read; ``offset`` is the 0-based position in the text."""

    def __init__(self, message: str, offset: int) -> None:
        super().__init__(message)
        self.offset = offset


@dataclass(frozen=True)
class Matcher:
    name: str
    op: str
    value: str
    pattern: re.Pattern[str] | None = field(default=None, compare=False, repr=False)

    def matches(self, labels: Mapping[str, str]) -> bool:
        actual = labels.get(self.name, "")
        if self.op == "=":
            return actual == self.value
        if self.op == "!=":
            return actual != self.value
        assert self.pattern is not None
        found = self.pattern.fullmatch(actual) is not None
        return found if self.op == "=~" else not found

    def __str__(self) -> str:
        escaped = self.value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")
        return f'{self.name}{self.op}"{escaped}"'


def matches_all(matchers: tuple[Matcher, ...], labels: Mapping[str, str]) -> bool:
    return all(matcher.matches(labels) for matcher in matchers)


class _Reader:
    def __init__(self, text: str) -> None:
        self.text = text
        self.at = 0

    def skip_space(self) -> None:
        while self.at < len(self.text) and self.text[self.at].isspace():
            self.at += 1

    def done(self) -> bool:
        self.skip_space()
        return self.at >= len(self.text)

    def peek(self, token: str) -> bool:
        self.skip_space()
        return self.text.startswith(token, self.at)

    def quoted(self) -> str:
        start = self.at
        self.at += 1  # the opening quote
        while self.at < len(self.text):
            char = self.text[self.at]
            if char == '"':
                raw = self.text[start + 1 : self.at]
                self.at += 1
                return _unquote(raw)
            self.at += 2 if char == "\\" else 1
        raise MatcherError("unterminated quoted string", start)

    def name(self) -> str:
        self.skip_space()
        if self.peek('"'):
            return self.quoted()
        found = _NAME.match(self.text, self.at)
        if found is None:
            raise MatcherError(
                f"expected a label name at {self.text[self.at : self.at + 10]!r}"
                if self.at < len(self.text)
                else "expected a label name",
                self.at,
            )
        self.at = found.end()
        return found.group()

    def operator(self) -> str:
        self.skip_space()
        if self.text.startswith("==", self.at):  # PromQL's and Python's equality; `a==b` read as a="=b"
            raise MatcherError("'==' is not a matcher operator: use =, !=, =~ or !~", self.at)
        for op in OPERATORS:
            if self.text.startswith(op, self.at):
                self.at += len(op)
                return op
        raise MatcherError("expected one of =, !=, =~, !~ after the label name", self.at)

    def value(self) -> str:
        self.skip_space()
        if self.peek('"'):
            return self.quoted()
        found = _BARE_VALUE.match(self.text, self.at)
        if found is None:  # an empty bare value: `team=` is `team=""`
            return ""
        self.at = found.end()
        return found.group()


def parse_matchers(text: str) -> list[Matcher]:
    """Every matcher in one ``match:`` item; MatcherError with the position of the first problem."""
    reader = _Reader(text)
    braced = reader.peek("{")
    if braced:
        reader.at += 1
    matchers: list[Matcher] = []
    while True:
        if braced and reader.peek("}"):
            reader.at += 1
            break
        if reader.done():
            if braced:
                raise MatcherError("missing closing '}'", len(text))
            break
        start = reader.at
        name = reader.name()
        if _LABEL.fullmatch(name) is None:
            hint = f" (this one is {name.replace('.', '_')!r})" if "." in name else ""
            raise MatcherError(
                f"label name {name!r} would never match: alerts carry only names like [A-Za-z_][A-Za-z0-9_]*{hint}",
                start + len(reader.text[start:]) - len(reader.text[start:].lstrip()),
            )
        op = reader.operator()
        value_at = reader.at
        value = reader.value()
        pattern = None
        if op in ("=~", "!~"):
            try:
                pattern = compile_regex(value)
            except re.error as exc:
                raise MatcherError(f"bad regex {value!r}: {_in_user_terms(value, exc)}", value_at) from None
            unsupported = re2_unsupported(value)
            if unsupported is not None:
                raise MatcherError(
                    f"regex {value!r} uses {unsupported}, which Alertmanager's regexes (Go's RE2) do not support",
                    value_at,
                )
            hazard = backtracking_hazard(value)
            if hazard is not None:
                raise MatcherError(f"regex {value!r}: {hazard[1]}; {BACKTRACKING_HINT}", value_at)
        matchers.append(Matcher(name, op, value, pattern))
        if reader.peek(","):
            reader.at += 1
            continue
        if braced and reader.peek("}"):
            continue
        if not reader.done():
            raise MatcherError(
                f"unexpected {reader.text[reader.at : reader.at + 10]!r} after {text[start : reader.at].strip()!r}"
                " (separate matchers with commas)",
                reader.at,
            )
    if not reader.done():
        raise MatcherError(f"unexpected {text[reader.at : reader.at + 10]!r} after '}}'", reader.at)
    if not matchers:
        raise MatcherError('no matcher (expected e.g. severity="critical")', 0)
    return matchers
