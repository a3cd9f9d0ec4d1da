"""humanizeDuration prints as Prometheus does."""

from __future__ import annotations

import math

import pytest

from otelbundle.alerting.templates import Context, parse_template

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
