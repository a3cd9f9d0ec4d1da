"""A tiny renderer for the Prometheus template subset used in annotations and generator_url.

    {{ $labels.http_route }}  {{ $value | humanizePercentage }}  {{ printf "%.2f" $value }}
    {{ $externalLabels.env }}  {{ $exemplar.trace_id }}  {{ humanize $value }}  x {{- $value -}} y

Parsed once at load time into a list of literal and variable parts; rendering
only looks values up and applies one of a fixed set of pipes. Rendered span
data is inserted as text and never parsed again, and there is no attribute
access, str.format on user text, or Jinja. Escaping for a channel (JSON, Slack
mrkdwn, HTML) is the notifier's job.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from otelbundle.alerting.go_format import (
    Printf,
    go_value,
    humanize,
    humanize_duration,
    humanize_percentage,
    parse_printf,
)


class TemplateError(ValueError):
    def __init__(self, message: str, column: int) -> None:
        super().__init__(message)
        self.column = column


@dataclass(frozen=True)
class Context:
    labels: Mapping[str, str]
    value: float
    external_labels: Mapping[str, str]
    exemplar_trace_id: str


PIPES: dict[str, Callable[[float], str]] = {
    "humanize": humanize,
    "humanizePercentage": humanize_percentage,
    "humanizeDuration": humanize_duration,
}


# Go's trim markers: "{{- " trims the white space before the action, " -}}" the white space after;
# the dash must touch the braces and have white space on its other side ("{{-3}}" is the number -3).
_SPACE = " \t\r\n"  # Go's isSpace: only these, not Unicode white space
_ACTION = re.compile(rf"\{{\{{(?P<left>-[{_SPACE}])?(?P<body>.*?)(?P<right>[{_SPACE}]-)?\}}\}}", re.DOTALL)
_VARIABLE = re.compile(r"\$(labels|externalLabels)\.([A-Za-z_][A-Za-z0-9_]*)|\$value|\$exemplar\.trace_id")
_QUOTED = r'"(?:[^"\\]|\\.)*"'
_PRINTF_CALL = re.compile(rf"printf\s+({_QUOTED})\s+(\S+)")  # printf "%.2f" $value
_PRINTF_PIPE = re.compile(rf"printf\s+({_QUOTED})")  # $value | printf "%.2f"
_FORMS = ' (forms: {{ $value }}, {{ humanize $value }}, {{ $value | humanize }}, {{ printf "%.2f" $value }})'
_ESCAPES = {"\\": "\\", '"': '"', "n": "\n", "t": "\t"}


@dataclass(frozen=True)
class _Part:
    literal: str = ""
    variable: str = ""  # "value", "exemplar", "labels:NAME", "externalLabels:NAME"
    pipes: tuple[str | Printf, ...] = ()  # pipe names and checked printf formats


@dataclass(frozen=True)
class Template:
    source: str
    parts: tuple[_Part, ...]

    def render(self, context: Context) -> str:
        out: list[str] = []
        for part in self.parts:
            if not part.variable:
                out.append(part.literal)
                continue
            value: str | float = _lookup(part.variable, context)
            for pipe in part.pipes:
                value = pipe.format(value) if isinstance(pipe, Printf) else _apply(pipe, value)
            out.append(value if isinstance(value, str) else go_value(value))
        return "".join(out)


def _lookup(variable: str, context: Context) -> str | float:
    if variable == "value":
        return context.value
    if variable == "exemplar":
        return context.exemplar_trace_id
    scope, _, name = variable.partition(":")
    source = context.labels if scope == "labels" else context.external_labels
    return source.get(name, "")


def _apply(pipe: str, value: str | float) -> str:
    number = _as_number(value)
    if number is None:
        return str(value)
    return PIPES[pipe](number)


# What Go's strconv.ParseFloat, which Prometheus's humanize functions call on a label, reads:
# ASCII decimal (underscores only between digits, as in Go literals: 1_000), hexadecimal only
# with a p exponent (0x1p-2), and inf/infinity/nan in any case. Python's float() reads more
# (" 5", "١٢") and less (0x1p-2), and turns 1e500 into inf where Go refuses it.
_DIGITS = r"[0-9](?:_?[0-9])*"
_GO_DECIMAL = re.compile(rf"[+-]?(?:{_DIGITS}\.?(?:{_DIGITS})?|\.{_DIGITS})(?:[eE][+-]?{_DIGITS})?")
_HEX_DIGITS = r"[0-9a-fA-F](?:_?[0-9a-fA-F])*"
_GO_HEX = re.compile(
    rf"[+-]?0[xX](?:_?{_HEX_DIGITS}(?:\.(?:{_HEX_DIGITS})?)?|_?\.{_HEX_DIGITS})[pP][+-]?[0-9]+"
)
_GO_SPECIAL = re.compile(r"[+-]?(?:inf|infinity)|nan", re.IGNORECASE)


def _as_number(value: str | float) -> float | None:
    """``value`` as a number when Go's ParseFloat reads it as one (else None: printed as text)."""
    if isinstance(value, float):
        return value
    if _GO_SPECIAL.fullmatch(value):
        return float(value)
    if _GO_DECIMAL.fullmatch(value):
        number = float(value.replace("_", ""))
    elif _GO_HEX.fullmatch(value):
        number = float.fromhex(value.replace("_", ""))
    else:
        return None
    return number if math.isfinite(number) else None  # out of range: Go refuses it


def _split_pipeline(text: str, column: int) -> list[str]:
    """Split on ``|`` outside quoted formats, so ``printf "a|b %v"`` stays whole."""
    pieces: list[str] = []
    current: list[str] = []
    for token in re.findall(rf'{_QUOTED}|[^|"]+|.', text, re.DOTALL):
        if token == "|":
            pieces.append("".join(current).strip())
            current = []
        else:
            current.append(token)
    pieces.append("".join(current).strip())
    if "" in pieces:
        raise TemplateError("empty pipe: every '|' needs a function after it", column)
    return pieces


def _unquote(quoted: str, column: int) -> str:
    """A Go string literal's body; only the escapes a format needs, so none is misread."""

    def escape(match: re.Match[str]) -> str:
        if match.group(1) not in _ESCAPES:
            raise TemplateError(f"unsupported escape '\\{match.group(1)}' in a printf format", column)
        return _ESCAPES[match.group(1)]

    return re.sub(r"\\(.)", escape, quoted[1:-1], flags=re.DOTALL)


def _printf(quoted: str, number: bool, argument: str, column: int) -> Printf:
    fmt = _unquote(quoted, column)
    try:
        return parse_printf(fmt, number=number, argument=argument)
    except ValueError as exc:
        raise TemplateError(f"printf {quoted}: {exc}", column) from None


# Go template actions, not functions: said as what they are.
_GO_ACTIONS = frozenset(
    {"if", "else", "end", "range", "with", "define", "template", "block", "break", "continue"}
)


def _unknown_function(name: str, column: int) -> TemplateError:
    if name in _GO_ACTIONS:
        return TemplateError(f"{{{{ {name} }}}}: Go template actions are not supported here{_FORMS}", column)
    return TemplateError(f"unknown function {name!r}; known: {', '.join(PIPES)}, printf{_FORMS}", column)


def _call_form(head: str, rest: list[str], column: int) -> str:
    """``humanize $value`` as ``$value | humanize`` (Go's call form; Prometheus' usual one): the
    argument, with the function put first in ``rest``. Anything else is returned as it is."""
    name, _, argument = head.partition(" ")
    if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", name):
        return head  # a variable, or not an expression at all
    if name not in PIPES:
        raise _unknown_function(name, column)
    argument = argument.strip()
    if _VARIABLE.fullmatch(argument) is None:
        raise TemplateError(f"{name} takes one variable{_FORMS}", column)
    rest.insert(0, name)
    return argument


def _parse_action(text: str, column: int) -> _Part:
    head, *rest = _split_pipeline(text, column)
    call = None
    if head.startswith("printf"):
        # {{ printf "%.2f" $value }}: the Go form, with the argument last.
        call = _PRINTF_CALL.fullmatch(head)
        if not call:
            raise TemplateError('printf takes a quoted format and one variable: printf "%.2f" $value', column)
        head = call.group(2)
    else:
        head = _call_form(re.sub(r"\s+", " ", head), rest, column)
    variable_match = _VARIABLE.fullmatch(head)
    if variable_match is None:
        raise TemplateError(
            f"unknown template expression {head!r}: use $labels.NAME, $value, $externalLabels.NAME, "
            f"$exemplar.trace_id{_FORMS}",
            column,
        )
    if head == "$value":
        variable = "value"
    elif head == "$exemplar.trace_id":
        variable = "exemplar"
    else:
        variable = f"{variable_match.group(1)}:{variable_match.group(2)}"
    # What printf is given: $value is a float, as in Prometheus; labels and any pipe's output are strings.
    number, argument = variable == "value", head
    pipes: list[str | Printf] = []
    if call:
        pipes.append(_printf(call.group(1), number, argument, column))
        number, argument = False, "printf's output"
    for pipe in rest:
        in_pipe = _PRINTF_PIPE.fullmatch(pipe)
        if in_pipe:
            pipes.append(_printf(in_pipe.group(1), number, argument, column))
        elif pipe in PIPES:
            pipes.append(pipe)
        elif pipe.startswith("printf"):
            raise TemplateError('printf in a pipe takes one quoted format: $value | printf "%.2f"', column)
        else:
            raise _unknown_function(pipe, column)
        number, argument = False, f"{pipe.split()[0]}'s output"
    return _Part(variable=variable, pipes=tuple(pipes))


def parse_template(source: str) -> Template:
    """Parse at load time; TemplateError carries the 1-based column of the problem."""
    parts: list[_Part] = []
    position = 0
    trim_next = False  # the previous action ended with " -}}"
    for match in _ACTION.finditer(source):
        _add_literal(parts, source[position : match.start()], trim_next, bool(match.group("left")))
        parts.append(_parse_action(match.group("body"), match.start() + 1))
        position = match.end()
        trim_next = bool(match.group("right"))
    rest = source[position:]
    if "{{" in rest or "}}" in rest:
        raise TemplateError(
            "unclosed '{{' or stray '}}'", position + 1 + max(rest.find("{{"), rest.find("}}"), 0)
        )
    _add_literal(parts, rest, trim_next, False)
    return Template(source, tuple(parts))


def _add_literal(parts: list[_Part], text: str, trim_start: bool, trim_end: bool) -> None:
    """The text between actions, less the white space a trim marker beside it removes (as Go)."""
    if trim_start:
        text = text.lstrip(_SPACE)
    if trim_end:
        text = text.rstrip(_SPACE)
    if text:
        parts.append(_Part(literal=text))
