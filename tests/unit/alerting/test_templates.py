"""humanizeDuration prints as Prometheus does, and printf formats are checked when the rules load:
the two printf forms accept the same formats and print them as Go's fmt does."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from otelbundle.alerting.templates import Context, TemplateError, parse_template
from otelbundle.cli import main

MAX_INT64 = 9223372036854775807

# Ported from prometheus/common helpers/templates/time_test.go (TestHumanizeDuration), with the
# NaN/Inf rows of prometheus/prometheus template/template_test.go ("Humanize* Inf and NaN") and
# template/template_amd64_test.go (MaxInt64 overflows int64 as Go does on amd64).
HUMANIZE_DURATION: list[tuple[float | str, str]] = [
    # Integers
    (0, "0s"),
    (1, "1s"),
    (60, "1m 0s"),
    (3600, "1h 0m 0s"),
    (86400, "1d 0h 0m 0s"),
    (86400 + 3600, "1d 1h 0m 0s"),
    (-(86400 * 2 + 3600 * 3 + 60 * 4 + 5), "-2d 3h 4m 5s"),
    # Float64 with fractions
    (899.99, "14m 59s"),
    (0.1, "100ms"),
    (0.0001, "100us"),
    (0.12345, "123.5ms"),
    (60.1, "1m 0s"),
    (60.5, "1m 0s"),
    (1.2345, "1.234s"),
    (12.345, "12.35s"),
    # String
    ("0", "0s"),
    ("1", "1s"),
    ("60", "1m 0s"),
    ("3600", "1h 0m 0s"),
    ("86400", "1d 0h 0m 0s"),
    # String with fractions
    (".1", "100ms"),
    (".0001", "100us"),
    (".12345", "123.5ms"),
    ("60.1", "1m 0s"),
    ("60.5", "1m 0s"),
    ("1.2345", "1.234s"),
    ("12.345", "12.35s"),
    # Int
    (-1, "-1s"),
    (1234567, "14d 6h 56m 7s"),
    # Inf and NaN, float64 and string
    (math.inf, "+Inf"),
    (-math.inf, "-Inf"),
    (math.nan, "NaN"),
    ("+Inf", "+Inf"),
    ("-Inf", "-Inf"),
    ("NaN", "NaN"),
    # amd64
    (MAX_INT64, "-106751991167300d -15h -30m -8s"),
    # Not in Prometheus' tables: what the reviewer saw, and the smallest prefixes
    (90, "1m 30s"),
    (3725, "1h 2m 5s"),
    (172800, "2d 0h 0m 0s"),
    (-0.5, "-500ms"),
    (1e-30, "1e-06ys"),
]


@pytest.mark.parametrize(("value", "expected"), HUMANIZE_DURATION)
def test_humanize_duration_prints_as_prometheus(value: float | str, expected: str) -> None:
    if isinstance(value, str):  # a label, as Prometheus' string inputs
        context = Context({"x": value}, 0.0, {}, "")
        assert parse_template("{{ $labels.x | humanizeDuration }}").render(context) == expected
    else:
        context = Context({}, float(value), {}, "")
        assert parse_template("{{ $value | humanizeDuration }}").render(context) == expected


# Ported from prometheus/prometheus template/template_test.go: "Humanize - float64/string/int/uint",
# "HumanizePercentage", "Humanize* Inf and NaN"; plus the reviewer's rows for small and huge values.
HUMANIZE: list[tuple[str, float | str, str]] = [
    ("humanize", 0.0, "0"),
    ("humanize", 1.0, "1"),
    ("humanize", 1234567.0, "1.235M"),
    ("humanize", 0.12, "120m"),
    ("humanize", "1234567.0", "1.235M"),
    ("humanize", ".12", "120m"),
    ("humanize", -1, "-1"),
    ("humanize", MAX_INT64, "9.223E"),
    ("humanize", 18446744073709551615, "18.45E"),
    ("humanize", 1e-6, "1u"),
    ("humanize", 1e15, "1P"),
    ("humanize", 1e27, "1000Y"),
    ("humanize", math.inf, "+Inf"),
    ("humanize", -math.inf, "-Inf"),
    ("humanize", math.nan, "NaN"),
    ("humanizePercentage", -0.22222, "-22.22%"),
    ("humanizePercentage", 0.0, "0%"),
    ("humanizePercentage", 0.1234567, "12.35%"),
    ("humanizePercentage", 1.23456, "123.5%"),
    ("humanizePercentage", 1234567, "1.235e+08%"),
    ("humanizePercentage", MAX_INT64, "9.223e+20%"),
    ("humanizePercentage", math.nan, "NaN%"),
]


@pytest.mark.parametrize(("function", "value", "expected"), HUMANIZE)
def test_humanize_and_humanize_percentage_print_as_prometheus(
    function: str, value: float | str, expected: str
) -> None:
    if isinstance(value, str):
        context = Context({"x": value}, 0.0, {}, "")
        assert parse_template(f"{{{{ $labels.x | {function} }}}}").render(context) == expected
    else:
        context = Context({}, float(value), {}, "")
        assert parse_template(f"{{{{ $value | {function} }}}}").render(context) == expected


# Go's fmt.Sprint of a float64, which is what Prometheus' text/template prints for {{ $value }}.
@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (3.0, "3"),
        (0.25, "0.25"),
        (-2.5, "-2.5"),
        (123456.0, "123456"),
        (1234567.0, "1.234567e+06"),
        (0.0001, "0.0001"),
        (0.00001, "1e-05"),
        (1e21, "1e+21"),
        (math.nan, "NaN"),
        (math.inf, "+Inf"),
        (-math.inf, "-Inf"),
    ],
)
def test_a_bare_value_prints_as_go_prints_a_float64(value: float, expected: str) -> None:
    assert parse_template("{{ $value }}").render(Context({}, value, {}, "")) == expected


# Expected output is Go's fmt.Sprintf(format, value) (go1.26), with value a float64 or a string.
PRINTF: list[tuple[str, float | str, str]] = [
    ("%.2f", 0.1234, "0.12"),
    ("%5.1f", 3.14159, "  3.1"),
    ("%-8.3f|", 2.5, "2.500   |"),
    ("%+.1f", 2.25, "+2.2"),
    ("%08.3f", -3.14159, "-003.142"),
    ("% .0f", 2.5, " 2"),
    ("%.0f", 1234567, "1234567"),
    ("%e", 123456.789, "1.234568e+05"),
    ("%.3E", 0.000123456, "1.235E-04"),
    ("%g", 1234567, "1.234567e+06"),
    ("%g", 0.00001234, "1.234e-05"),
    ("%.3g", 1234.5, "1.23e+03"),
    ("%G", 1e-7, "1E-07"),
    ("%v", 0.1, "0.1"),
    ("%v", 100000, "100000"),
    ("%+v", 1.5, "1.5"),
    ("%.2f%%", 12.345, "12.35%"),
    ("%f", math.nan, "NaN"),
    ("%+6.1f", math.nan, "  +NaN"),
    ("%06.1f", math.inf, "  +Inf"),
    ("%-6v|", -math.inf, "-Inf  |"),
    ("%.2f", -0.0, "-0.00"),
    ("%F", 1, "1.000000"),
    ("took %v s", 42, "took 42 s"),
    ("%s", "/checkout", "/checkout"),
    ("%v", "/checkout", "/checkout"),
    ("%.4s", "/checkout", "/che"),
    ("%12s|", "/checkout", "   /checkout|"),
    ("%-12s|", "/checkout", "/checkout   |"),
    ("%3.1s|", "héllo", "  h|"),
    ('a \\"%s\\"|b', "x", 'a "x"|b'),
]


@pytest.mark.parametrize(("fmt", "value", "expected"), PRINTF)
def test_both_printf_forms_print_as_go(fmt: str, value: float | str, expected: str) -> None:
    variable = "$value" if isinstance(value, (int, float)) else "$labels.x"
    context = Context({"x": str(value)}, float(value) if variable == "$value" else 0.0, {}, "")
    call = parse_template(f'{{{{ printf "{fmt}" {variable} }}}}')
    pipe = parse_template(f'{{{{ {variable} | printf "{fmt}" }}}}')
    assert call.render(context) == pipe.render(context) == expected


@pytest.mark.parametrize(
    ("fmt", "variable", "message"),
    [
        ("%d", "$value", "%d cannot print $value, a float"),
        ("%x", "$value", "%x cannot print $value, a float"),
        ("%s", "$value", "%s cannot print $value, a float"),
        ("%.2f", "$labels.code", "%f cannot print $labels.code, a string"),
        ("%d", "$labels.code", "%d cannot print $labels.code, a string"),
        ("%.2f", "$value | humanize", "%f cannot print humanize's output, a string"),
        ("%05s", "$labels.code", "a string takes only the '-' flag"),
        ("%.2f %v", "$value", "more than one verb"),
        ("no verb", "$value", "no verb for $value"),
        ("%.2f %", "$value", "lone '%'"),
        ("%[1]f", "$value", "argument indexes"),
        ("%*f", "$value", "argument indexes (%[1]v) and * widths"),
        ("%123f", "$value", "at most two digits"),
        ("%.2q", "$value", "%q cannot print"),
        ("%5%", "$value", "%% takes no flags"),
        ("%.2f\\x", "$value", "unsupported escape"),
    ],
)
def test_printf_formats_are_refused_at_load(fmt: str, variable: str, message: str) -> None:
    """A format Go could not print for this argument fails in both forms when the rules load."""
    head, _, pipes = variable.partition(" | ")
    sources = [f'{{{{ {variable} | printf "{fmt}" }}}}']
    if not pipes:
        sources.append(f'{{{{ printf "{fmt}" {head} }}}}')
    for source in sources:
        with pytest.raises(TemplateError, match="printf") as caught:
            parse_template(source)
        assert message in str(caught.value), source


@settings(max_examples=300, deadline=None)
@given(
    fmt=st.text(alphabet="%-+ 0123456789.fFeEgGvsdxq[*a|", max_size=10),
    value=st.floats(allow_nan=True, allow_infinity=True),
)
def test_a_format_that_loads_renders_in_both_forms(fmt: str, value: float) -> None:
    """Nothing is left to fail at render time: either both forms load and print the same, or neither."""
    context = Context({}, value, {}, "")
    rendered = set()
    for source in (f'{{{{ printf "{fmt}" $value }}}}', f'{{{{ $value | printf "{fmt}" }}}}'):
        try:
            rendered.add(parse_template(source).render(context))
        except TemplateError:
            rendered.add(None)
    assert len(rendered) == 1


RULES = """\
groups:
  - name: g
    rules:
      - alert: A
        expr: count > 1
        annotations:
          summary: '{{ printf "%d requests" $value }}'
          description: '{{ $labels.http_route | printf "%.2f" }}'
"""


def test_rules_check_names_the_bad_printf(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "r.yaml").write_text(RULES)
    assert main(["rules", "check", str(tmp_path / "r.yaml")]) == 1
    err = capsys.readouterr().err
    assert (
        f'{tmp_path}/r.yaml:7:21: summary: template: printf "%d requests": %d cannot print $value, a float'
        " (Prometheus would print %!d(float64=…)); use %f, %e, %g or %v, e.g. %.0f for a whole number"
    ) in err
    assert (
        f'{tmp_path}/r.yaml:8:25: description: template: printf "%.2f": %f cannot print'
        " $labels.http_route, a string"
    ) in err
