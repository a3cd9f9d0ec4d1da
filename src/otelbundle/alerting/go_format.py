"""Numbers as Prometheus' templates print them, which is as Go's fmt prints them.

A rule file written for Prometheus should read the same in otelbundle's
notifications: ``{{ $value }}`` is Go's ``%v`` of a float64 (``1.234567e+06``),
``humanize*`` are Prometheus' template functions (template/template.go, and
``HumanizeDuration`` of prometheus/common helpers/templates/time.go), and
``printf`` takes the subset of Go's formats that prints one float or one string
(checked when the rules load, so rendering can neither fail nor print Go's
``%!d(float64=…)``).
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from decimal import Decimal


def humanize(value: float) -> str:
    """Prometheus' ``humanize``: SI prefixes, 4 significant digits (``1.235M``, ``120m``, ``9.223E``)."""
    if value == 0 or math.isnan(value) or math.isinf(value):
        return _go_4g(value)
    prefix = ""
    if abs(value) >= 1:
        for scaled_prefix in ("k", "M", "G", "T", "P", "E", "Z", "Y"):
            if abs(value) < 1000:
                break
            prefix = scaled_prefix
            value /= 1000
    else:
        for scaled_prefix in ("m", "u", "n", "p", "f", "a", "z", "y"):
            if abs(value) >= 1:
                break
            prefix = scaled_prefix
            value *= 1000
    return f"{_go_4g(value)}{prefix}"


def humanize_percentage(value: float) -> str:
    """Prometheus' ``humanizePercentage``: ``12.35%``, ``1.235e+08%``, ``NaN%``."""
    return f"{_go_4g(value * 100)}%"


def go_value(value: float) -> str:
    """Go's ``%v`` of a float64, which is how Prometheus prints a bare ``{{ $value }}``:
    ``3``, ``0.25``, ``1.234567e+06``, ``NaN``, ``+Inf``."""
    if math.isnan(value) or math.isinf(value):
        return _go_g(value)
    sign = "-" if math.copysign(1.0, value) < 0 else ""
    return sign + _shortest(abs(value))


def _go_4g(value: float) -> str:
    """Go's ``%.4g``: Python's, but for how NaN and the infinities are spelled."""
    return _go_g(value) if math.isnan(value) or math.isinf(value) else f"{value:.4g}"


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
