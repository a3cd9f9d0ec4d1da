"""The `where:` language: comparisons on span (or log record) fields, combined with and/or/not. Never eval.

    http.request.method == "POST"
    duration > 250ms and http.response.status_code >= 500
    not (name =~ "^GET /health")
    status == error

A field is a built-in (``duration`` in seconds, ``status`` ok|error|unset,
``name``, ``kind`` server|client|internal|producer|consumer) or an attribute
name, looked up on the span first and then on its resource. A missing
attribute is never an error: ``=~`` and ``!~`` read it as the empty string (as
Prometheus reads an absent label); other comparisons are false, ``!=`` true.
Expressions are parsed once, at load time, into plain closures.
"""

from __future__ import annotations

import itertools
import math
import operator
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol

from otelbundle.config.regex_safety import BACKTRACKING_HINT, backtracking_hazard, compile_user_regex
from otelbundle.config.values import DURATION_HINT, DURATION_RE, UNIT_SECONDS, parse_duration

BUILTINS = ("duration", "status", "name", "kind")
STATUS_VALUES = ("ok", "error", "unset")
KIND_VALUES = ("server", "client", "internal", "producer", "consumer")
UNITS_TEXT = " ".join(UNIT_SECONDS)


@dataclass(frozen=True)
class SpanView:
    """What predicates and group keys read from a finished span."""

    name: str
    kind: str
    status: str
    duration: float
    attributes: Mapping[str, Any]
    resource: Mapping[str, Any]
    trace_id: int = 0  # formatted only when reported as an exemplar

    def get(self, field: str) -> Any:
        if field == "duration":
            return self.duration
        if field == "status":
            return self.status
        if field == "name":
            return self.name
        if field == "kind":
            return self.kind
        value = self.attributes.get(field)
        return self.resource.get(field) if value is None else value


class Fields(Protocol):
    """What a predicate reads: a finished span (:class:`SpanView`) or a log record
    (:class:`otelbundle.alerting.log_rules.LogView`)."""

    def get(self, field: str) -> Any: ...


Predicate = Callable[[Fields], bool]


class PredicateError(ValueError):
    """A parse error; ``column`` is 1-based within the expression text."""

    def __init__(self, message: str, column: int) -> None:
        super().__init__(message)
        self.column = column


# Durations are the file-wide grammar (otelbundle.config.values), so `duration > 1d`
# means what `window: 1d` and `expr: p99 > 1d` mean. `badnumber` is anything else that
# starts like a number (`1x`, `-1s`, `1.2.3`): refused with a hint, not a bare column.
_TOKEN = re.compile(
    r"""\s*(?:
        (?P<string>"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*')
      | (?P<op>==|!=|>=|<=|=~|!~|>|<)
      | (?P<paren>[()])
      | (?P<duration>"""
    + DURATION_RE.pattern
    + r"""(?![\w.]))
      | (?P<number>-?\d+(?:\.\d+)?(?:[eE][-+]?\d+)?(?![\w.]))
      | (?P<word>[A-Za-z_][\w.\-/]*)
      | (?P<badnumber>-?\d[\w.]*)
    )""",
    re.VERBOSE,
)

_COMPARE: dict[str, Callable[[Any, Any], bool]] = {
    "==": operator.eq,
    "!=": operator.ne,
    ">": operator.gt,
    ">=": operator.ge,
    "<": operator.lt,
    "<=": operator.le,
}


@dataclass(frozen=True)
class _Token:
    kind: str
    text: str
    column: int


def _tokenize(text: str) -> list[_Token]:
    tokens: list[_Token] = []
    position = 0
    while position < len(text):
        if text[position:].strip() == "":
            break
        match = _TOKEN.match(text, position)
        if match is None or match.end() == position:
            column = position + 1 + (len(text[position:]) - len(text[position:].lstrip()))
            raise PredicateError(f"unexpected character {text[column - 1]!r}", column)
        kind = match.lastgroup or ""
        value = match.group(kind)
        if kind == "badnumber":
            raise PredicateError(
                f"{value!r} is not a number or a duration ({DURATION_HINT}; units {UNITS_TEXT})",
                match.start(kind) + 1,
            )
        tokens.append(_Token(kind, value, match.start(kind) + 1))
        position = match.end()
    return tokens


def all_of(parts: tuple[Predicate, ...]) -> Predicate:
    def predicate(span: Fields) -> bool:
        return all(part(span) for part in parts)

    return predicate


def _any_of(parts: tuple[Predicate, ...]) -> Predicate:
    def predicate(span: Fields) -> bool:
        return any(part(span) for part in parts)

    return predicate


class _Parser:
    def __init__(self, text: str) -> None:
        self.text = text
        self.tokens = _tokenize(text)
        self.index = 0

    def peek(self) -> _Token | None:
        return self.tokens[self.index] if self.index < len(self.tokens) else None

    def take(self) -> _Token:
        token = self.peek()
        if token is None:
            raise PredicateError("expression ends too early", len(self.text) + 1)
        self.index += 1
        return token

    def parse(self) -> Predicate:
        predicate = self.or_expr()
        extra = self.peek()
        if extra is not None:
            raise PredicateError(f"unexpected {extra.text!r}", extra.column)
        return predicate

    def or_expr(self) -> Predicate:
        parts = [self.and_expr()]
        while (token := self.peek()) is not None and token.kind == "word" and token.text == "or":
            self.take()
            parts.append(self.and_expr())
        return parts[0] if len(parts) == 1 else _any_of(tuple(parts))

    def and_expr(self) -> Predicate:
        parts = [self.not_expr()]
        while (token := self.peek()) is not None and token.kind == "word" and token.text == "and":
            self.take()
            parts.append(self.not_expr())
        return parts[0] if len(parts) == 1 else all_of(tuple(parts))

    def not_expr(self) -> Predicate:
        token = self.peek()
        if token is not None and token.kind == "word" and token.text == "not":
            self.take()
            inner = self.not_expr()
            return lambda span: not inner(span)
        if token is not None and token.text == "(":
            self.take()
            inner = self.or_expr()
            closing = self.take()
            if closing.text != ")":
                raise PredicateError(f"expected ')' but found {closing.text!r}", closing.column)
            return inner
        return self.comparison()

    def comparison(self) -> Predicate:
        field = self.take()
        if field.kind != "word" or field.text in ("and", "or", "not"):
            raise PredicateError(f"expected a field name, found {field.text!r}", field.column)
        op = self.take()
        if op.kind != "op":
            raise PredicateError(
                f"expected a comparison (== != > >= < <= =~ !~) after {field.text!r}", op.column
            )
        value = self.take()
        return _compile(field.text, op.text, value)


REGEX_READS = 1024
"""How many characters of a value a ``=~``/``!~`` regex reads: Python's ``re`` backtracks, so
a pattern such as ``.*.*x`` costs the cube of the length it reads, on the thread that folds
spans and with the GIL held (regex_safety.py refuses the exponential shapes at load)."""


_ESCAPE_PAIR = re.compile(r"\\(.)", re.DOTALL)


def _unescape(text: str) -> str:
    """Python's escapes (``\\"``, ``\\\\``, ``\\n``, ``\\u00e9``) read, any other character as written.

    ``unicode_escape`` reads bytes as Latin-1: given the UTF-8 of ``é`` it makes two other
    characters, and ``http.route == "/straße"`` never held. So every character beyond ASCII
    reaches it as one code point (an escape of its own), and a backslash before one stays.
    """
    pairs = _ESCAPE_PAIR.sub(lambda m: m.group() if m.group(1).isascii() else "\\" + m.group(), text)
    return pairs.encode("latin-1", "backslashreplace").decode("unicode_escape")


def _literal(field: str, token: _Token) -> Any:
    if token.kind == "string":
        try:
            return _unescape(token.text[1:-1])
        except UnicodeDecodeError as exc:  # "\x4": a truncated escape
            raise PredicateError(f"bad escape in {token.text}: {exc.reason}", token.column) from None
    if token.kind == "number":
        number = float(token.text)
        if not math.isfinite(number):  # 1e999: a threshold no value ever passes, or every one does
            raise PredicateError(f"{token.text} is too large a number", token.column)
        return number
    if token.kind == "duration":
        try:
            return parse_duration(token.text, allow_zero=True)
        except ValueError as exc:  # longer than 292 years
            raise PredicateError(str(exc), token.column) from None
    if token.kind == "word":
        if field == "status" and token.text in STATUS_VALUES:
            return token.text
        if field == "kind" and token.text in KIND_VALUES:
            return token.text
        if token.text in ("true", "false"):
            return token.text == "true"
        raise PredicateError(f'{token.text!r} is not a value; quote strings: "{token.text}"', token.column)
    raise PredicateError(f"expected a value, found {token.text!r}", token.column)


def _compile(field: str, op: str, token: _Token) -> Predicate:
    value = _literal(field, token)
    if field == "status" and value not in STATUS_VALUES:
        raise PredicateError(f"status is one of {', '.join(STATUS_VALUES)}", token.column)
    if field == "kind" and value not in KIND_VALUES:
        raise PredicateError(f"kind is one of {', '.join(KIND_VALUES)}", token.column)
    if field == "duration" and token.kind not in ("duration", "number"):
        raise PredicateError("duration compares to a duration such as 250ms", token.column)
    if op in ("=~", "!~"):
        if not isinstance(value, str):
            raise PredicateError(f"{op} needs a quoted regular expression", token.column)
        try:
            pattern = compile_user_regex(value)
        except re.error as exc:
            raise PredicateError(f"bad regular expression: {exc}", token.column) from None
        hazard = backtracking_hazard(value)
        if hazard is not None:
            raise PredicateError(f"{hazard[1]}; {BACKTRACKING_HINT}", token.column)
        wanted = op == "=~"
        # A missing attribute is the empty string, as an absent label is in Prometheus:
        # `db.system !~ "redis"` holds on a span without db.system, `=~ ".+"` does not.
        when_missing = (pattern.search("") is not None) is wanted

        def regex(span: Fields) -> bool:
            actual = span.get(field)
            if actual is None:
                return when_missing
            return (pattern.search(str(actual)[:REGEX_READS]) is not None) is wanted

        return regex
    compare = _COMPARE[op]
    if isinstance(value, float):

        def numeric(span: Fields) -> bool:
            actual = span.get(field)
            if isinstance(actual, bool) or actual is None:
                return op == "!="
            try:
                return compare(float(actual), value)
            except (TypeError, ValueError):
                return op == "!="

        return numeric
    if op not in ("==", "!="):
        raise PredicateError(f"{op} needs a number or duration", token.column)

    def equality(span: Fields) -> bool:
        actual = span.get(field)
        if actual is None:
            return op == "!="
        return compare(actual if isinstance(value, bool) else str(actual), value)

    return equality


def parse_predicate(text: str) -> Predicate:
    """Compile one `where:` line; raises PredicateError with the column of the problem."""
    if not text.strip():
        raise PredicateError("empty expression", 1)
    return _Parser(text).parse()


def referenced_fields(text: str) -> frozenset[str]:
    """The fields an expression reads: each word right before a comparison operator.

    The processor needs this to know which rules can be decided once for many
    alike spans (those not reading ``duration``), and which attributes make spans alike.
    """
    tokens = _tokenize(text)
    return frozenset(
        token.text
        for token, after in itertools.pairwise(tokens)
        if token.kind == "word" and after.kind == "op"
    )


def is_duration(text: str) -> bool:
    return DURATION_RE.fullmatch(text.strip()) is not None
