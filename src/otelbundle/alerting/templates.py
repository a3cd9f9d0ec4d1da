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

_ACTION = re.compile(r"\{\{-?\s*(.*?)\s*-?\}\}", re.DOTALL)
_VARIABLE = re.compile(r"\$(labels|externalLabels)\.([A-Za-z_][A-Za-z0-9_]*)|\$value|\$exemplar\.trace_id")
_PRINTF = re.compile(r'printf\s+"((?:%(?:\.\d+)?[dfegsx%]|[^"%])*)"\s*$')


@dataclass(frozen=True)
class _Part:
    literal: str = ""
    variable: str = ""  # "value", "exemplar", "labels:NAME", "externalLabels:NAME"
    pipes: tuple[str, ...] = ()  # pipe names, or "printf:FORMAT"


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
                value = _apply(pipe, value)
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
    if pipe.startswith("printf:"):
        fmt = pipe[len("printf:") :]
        try:
            return fmt % (number if number is not None and "%s" not in fmt else value)
        except (TypeError, ValueError):
            return str(value)
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


def _parse_action(text: str, column: int) -> _Part:
    printf_format = None
    if text.startswith("printf"):
        # {{ printf "%.2f" $value }}: the Go form, with the argument last.
        match = re.match(r'printf\s+("(?:[^"\\]|\\.)*")\s+(\$\S+)\s*$', text)
        if not match:
            raise TemplateError('printf takes a quoted format and one variable: printf "%.2f" $value', column)
        printf_format, text = match.group(1)[1:-1], match.group(2)
    pieces = [p.strip() for p in text.split("|")]
    head = pieces[0]
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
    pipes: list[str] = [f"printf:{printf_format}"] if printf_format is not None else []
    for pipe in pieces[1:]:
        printf = _PRINTF.fullmatch(pipe)
        if printf:
            pipes.append(f"printf:{printf.group(1)}")
        elif pipe in PIPES:
            pipes.append(pipe)
        else:
            raise TemplateError(f"unknown function {pipe!r}; known: {', '.join(PIPES)}, printf", column)
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
