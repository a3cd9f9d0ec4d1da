"""A tiny renderer for the Prometheus template subset used in annotations and generator_url.

    {{ $labels.http_route }}  {{ $value | humanizePercentage }}  {{ printf "%.2f" $value }}
    {{ $externalLabels.env }}  {{ $exemplar.trace_id }}

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
from decimal import Decimal


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


def humanize(value: float) -> str:
    if math.isnan(value) or math.isinf(value):
        return str(value)
    for factor, suffix in ((1e12, "T"), (1e9, "G"), (1e6, "M"), (1e3, "k")):
        if abs(value) >= factor:
            return f"{value / factor:.4g}{suffix}"
    for factor, suffix in ((1e-3, "m"), (1e-6, "u"), (1e-9, "n")):
        if value != 0 and abs(value) < factor * 1000:
            return f"{value / factor:.4g}{suffix}"
    return f"{value:.4g}"


def humanize_percentage(value: float) -> str:
    return f"{value * 100:.4g}%"


def humanize_duration(value: float) -> str:
    """Prometheus' ``humanizeDuration``, ported from prometheus/common
    helpers/templates/time.go (HumanizeDuration): ``1m 30s``, ``2d 0h 0m 0s``, ``123.5ms``."""
    value = float(value)
    if math.isnan(value) or math.isinf(value):
        return _go_g(value)
    if value == 0:
        return f"{value:.4g}s"
    if abs(value) >= 1:
        sign = "-" if value < 0 else ""
        value = abs(value)
        duration = _go_int64(value)
        seconds = _go_rem(duration, 60)
        minutes = _go_rem(_go_quo(duration, 60), 60)
        hours = _go_rem(_go_quo(duration, 60 * 60), 24)
        days = _go_quo(duration, 60 * 60 * 24)
        # Days to minutes show whole seconds; below a minute, 4 significant digits.
        if days != 0:
            return f"{sign}{days}d {hours}h {minutes}m {seconds}s"
        if hours != 0:
            return f"{sign}{hours}h {minutes}m {seconds}s"
        if minutes != 0:
            return f"{sign}{minutes}m {seconds}s"
        return f"{sign}{value:.4g}s"
    prefix = ""
    for scaled_prefix in ("m", "u", "n", "p", "f", "a", "z", "y"):
        if abs(value) >= 1:
            break
        prefix = scaled_prefix
        value *= 1000
    return f"{value:.4g}{prefix}s"


def _go_g(value: float) -> str:
    """Go's ``%.4g`` of NaN and the infinities: ``NaN``, ``+Inf``, ``-Inf``."""
    return "NaN" if math.isnan(value) else ("+Inf" if value > 0 else "-Inf")


def _go_int64(value: float) -> int:
    """Go's ``int64(value)`` as compiled for amd64, where out of range gives the minimum
    (pinned by Prometheus' template/template_amd64_test.go)."""
    whole = int(value)
    return whole if -(2**63) <= whole < 2**63 else -(2**63)


def _go_quo(a: int, b: int) -> int:
    """Go's integer ``/``, which truncates toward zero (Python's ``//`` floors)."""
    return abs(a) // b * (1 if a >= 0 else -1)


def _go_rem(a: int, b: int) -> int:
    """Go's ``%``, whose sign follows the dividend."""
    return a - _go_quo(a, b) * b


PIPES: dict[str, Callable[[float], str]] = {
    "humanize": humanize,
    "humanizePercentage": humanize_percentage,
    "humanizeDuration": humanize_duration,
}

_SPEC = re.compile(r"%([-+ 0]*)(\d*)(?:\.(\d*))?(.)", re.DOTALL)
_NUMBER_VERBS = "fFeEgGv"
_STRING_VERBS = "sv"


@dataclass(frozen=True)
class Printf:
    """A Go format checked at load time: one verb, for an argument whose type is known then,
    so rendering can neither fail nor print Go's ``%!d(float64=…)``."""

    before: str
    after: str
    flags: str
    width: int
    precision: int | None
    verb: str
    number: bool  # the argument is $value, a float; otherwise a string

    def format(self, value: str | float) -> str:
        text = _format_number(self, float(value)) if self.number else _format_string(self, str(value))
        return f"{self.before}{text}{self.after}"


def parse_printf(fmt: str, *, number: bool, argument: str) -> Printf:
    """The subset of Go's fmt that prints one float or one string the same way here; ValueError otherwise."""
    text: list[str] = []
    before = None
    spec = None
    position = 0
    while position < len(fmt):
        if fmt[position] != "%":
            text.append(fmt[position])
            position += 1
        elif fmt.startswith("%%", position):
            text.append("%")
            position += 2
        else:
            match = _SPEC.match(fmt, position)
            if match is None:
                raise ValueError("the format ends with a lone '%' (write %% for a percent sign)")
            if spec is not None:
                raise ValueError(f"more than one verb: printf prints one value ({argument})")
            before, spec, text, position = "".join(text), match, [], match.end()
    if spec is None or before is None:
        raise ValueError(f"no verb for {argument}: add one, such as %v")
    flags, width, precision, verb = spec.groups()
    _check_spec(flags, width, precision, verb, number, argument)
    exact = None if precision is None else int(precision or 0)  # Go reads "%.f" as precision 0
    return Printf(before, "".join(text), flags, int(width or 0), exact, verb, number)


def _check_spec(
    flags: str, width: str, precision: str | None, verb: str, number: bool, argument: str
) -> None:
    if verb in "[*":
        raise ValueError("argument indexes (%[1]v) and * widths are not supported")
    if verb == "%":
        raise ValueError("%% takes no flags, width or precision")
    if len(width) > 2 or len(precision or "") > 2:
        raise ValueError("width and precision are at most two digits")
    if number and verb not in _NUMBER_VERBS:
        raise ValueError(
            f"%{verb} cannot print {argument}, a float (Prometheus would print %!{verb}(float64=…)); "
            "use %f, %e, %g or %v, e.g. %.0f for a whole number"
        )
    if not number and verb not in _STRING_VERBS:
        raise ValueError(
            f"%{verb} cannot print {argument}, a string (Prometheus would print %!{verb}(string=…)); "
            "use %s or %v"
        )
    if not number and flags.strip("-"):
        raise ValueError(f"a string takes only the '-' flag, not {flags.replace('-', '')!r}")


def _format_number(spec: Printf, value: float) -> str:
    """Go's fmt.fmtFloat: the sign, then zero padding after it; NaN and Inf are never zero padded."""
    plus = "+" in spec.flags and spec.verb != "v"  # %+v is Go's field-name flag, not a sign
    space, minus = " " in spec.flags, "-" in spec.flags
    zero = "0" in spec.flags and not minus
    if math.isnan(value) or math.isinf(value):
        sign = "-" if value < 0 else "+" if plus else " " if space else "" if math.isnan(value) else "+"
        return _pad(sign + ("NaN" if math.isnan(value) else "Inf"), spec.width, minus, zero=False)
    body = _unsigned(abs(value), spec.verb, spec.precision)
    sign = "-" if math.copysign(1.0, value) < 0 else "+" if plus else " " if space else ""
    if sign and zero:
        return sign + _pad(body, spec.width - 1, minus, zero=True)
    return _pad(sign + body, spec.width, minus, zero)


def _unsigned(value: float, verb: str, precision: int | None) -> str:
    if verb in "fF":
        return f"{value:.{6 if precision is None else precision}f}"
    if verb in "eE":
        text = f"{value:.{6 if precision is None else precision}e}"
    elif precision is not None:
        text = f"{value:.{precision}g}"
    else:
        text = _shortest(value)
    return text.upper() if verb in "EG" else text


def _shortest(value: float) -> str:
    """Go's %g and %v without a precision: the fewest digits that read back as the same float
    (Python's repr has the same digits), with an exponent below 1e-4 and from 1e6 on."""
    _, digits, exponent = Decimal(repr(value)).normalize().as_tuple()
    mantissa = "".join(map(str, digits))
    point = len(mantissa) + int(exponent)  # digits before the decimal point
    if point - 1 < -4 or point - 1 >= 6:
        tail = f".{mantissa[1:]}" if len(mantissa) > 1 else ""
        return f"{mantissa[0]}{tail}e{point - 1:+03d}"
    if point <= 0:
        return f"0.{'0' * -point}{mantissa}"
    if point >= len(mantissa):
        return mantissa + "0" * (point - len(mantissa))
    return f"{mantissa[:point]}.{mantissa[point:]}"


def _format_string(spec: Printf, value: str) -> str:
    """Go's %s: the precision cuts to that many characters, the width pads with spaces."""
    return _pad(value if spec.precision is None else value[: spec.precision], spec.width, "-" in spec.flags)


def _pad(text: str, width: int, minus: bool, zero: bool = False) -> str:
    padding = max(width - len(text), 0)
    if minus:
        return text + " " * padding
    return ("0" if zero else " ") * padding + text


_ACTION = re.compile(r"\{\{-?\s*(.*?)\s*-?\}\}", re.DOTALL)
_VARIABLE = re.compile(r"\$(labels|externalLabels)\.([A-Za-z_][A-Za-z0-9_]*)|\$value|\$exemplar\.trace_id")
_QUOTED = r'"(?:[^"\\]|\\.)*"'
_PRINTF_CALL = re.compile(rf"printf\s+({_QUOTED})\s+(\S+)")  # printf "%.2f" $value
_PRINTF_PIPE = re.compile(rf"printf\s+({_QUOTED})")  # $value | printf "%.2f"
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
            out.append(value if isinstance(value, str) else _plain(value))
        return "".join(out)


def _plain(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else repr(value)


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


def _as_number(value: str | float) -> float | None:
    if isinstance(value, float):
        return value
    try:
        return float(value)
    except ValueError:
        return None


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


def _parse_action(text: str, column: int) -> _Part:
    head, *rest = _split_pipeline(text, column)
    call = None
    if head.startswith("printf"):
        # {{ printf "%.2f" $value }}: the Go form, with the argument last.
        call = _PRINTF_CALL.fullmatch(head)
        if not call:
            raise TemplateError('printf takes a quoted format and one variable: printf "%.2f" $value', column)
        head = call.group(2)
    variable_match = _VARIABLE.fullmatch(head)
    if variable_match is None:
        raise TemplateError(
            f"unknown template expression {head!r}: use $labels.NAME, $value, $externalLabels.NAME, "
            "$exemplar.trace_id",
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
            raise TemplateError(f"unknown function {pipe!r}; known: {', '.join(PIPES)}, printf", column)
        number, argument = False, f"{pipe.split()[0]}'s output"
    return _Part(variable=variable, pipes=tuple(pipes))


def parse_template(source: str) -> Template:
    """Parse at load time; TemplateError carries the 1-based column of the problem."""
    parts: list[_Part] = []
    position = 0
    for match in _ACTION.finditer(source):
        if match.start() > position:
            parts.append(_Part(literal=source[position : match.start()]))
        parts.append(_parse_action(match.group(1), match.start() + 1))
        position = match.end()
    rest = source[position:]
    if "{{" in rest or "}}" in rest:
        raise TemplateError(
            "unclosed '{{' or stray '}}'", position + 1 + max(rest.find("{{"), rest.find("}}"), 0)
        )
    if rest:
        parts.append(_Part(literal=rest))
    return Template(source, tuple(parts))
