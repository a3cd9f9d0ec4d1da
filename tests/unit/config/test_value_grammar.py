"""What a user writes for a percentage, a threshold, a count or a duration, and what they read back.

Found by mutation testing: the bounds of a percentage, ``50%`` as
a threshold, ``true`` where a number belongs and the words of each refusal were
not pinned by any test, so a flipped comparison or a lost message passed.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from otelbundle.alerting.section import load_alerting_config
from otelbundle.config import (
    ConfigError,
    format_duration,
    parse_count,
    parse_duration,
    parse_number,
    parse_percent,
)

NOT_VALUES: list[object] = [True, False, None, [80], {"a": 1}]
"""YAML ``true``/``yes`` is a bool, and bool is an int in Python: it must not read as 1."""

# ---- percentages (health thresholds, SLO objectives) ----


@pytest.mark.parametrize(
    ("text", "percent"), [(0, 0.0), ("0%", 0.0), ("0.5%", 0.5), ("100%", 100.0), (100, 100.0)]
)
def test_a_percentage_may_be_anything_from_0_to_100_inclusive(text: object, percent: float) -> None:
    assert parse_percent(text) == percent


@pytest.mark.parametrize("value", [100.5, "101%", -0.5, "-1%"])
def test_a_percentage_outside_0_to_100_is_refused_with_the_value(value: object) -> None:
    with pytest.raises(ValueError) as raised:
        parse_percent(value)
    assert str(raised.value) == f"{value!r} is outside 0%..100%"


@pytest.mark.parametrize("value", NOT_VALUES)
def test_a_bool_or_a_structure_is_not_a_percentage(value: object) -> None:
    with pytest.raises(ValueError) as raised:
        parse_percent(value)
    assert str(raised.value) == f"{value!r} is not a percentage (use e.g. 80%)"


@pytest.mark.parametrize(
    ("value", "shown"), [("eighty", "'eighty'"), (float("nan"), "nan"), (float("inf"), "inf")]
)
def test_a_percentage_that_is_not_a_number_says_so(value: object, shown: str) -> None:
    with pytest.raises(ValueError, match=rf"^{shown} is not a percentage"):
        parse_percent(value)


# ---- thresholds in rule expressions ----


@pytest.mark.parametrize(
    ("text", "number"),
    [
        ("50%", 0.5),
        ("5%", 0.05),
        ("250ms", 0.25),
        ("1m", 60.0),
        ("0s", 0.0),
        ("0.5", 0.5),
        (3, 3.0),
        (0, 0.0),
    ],
)
def test_a_threshold_is_a_number_a_percentage_as_a_ratio_or_a_duration_in_seconds(
    text: object, number: float
) -> None:
    assert parse_number(text) == number


@pytest.mark.parametrize("value", NOT_VALUES)
def test_a_bool_or_a_structure_is_not_a_threshold(value: object) -> None:
    with pytest.raises(ValueError) as raised:
        parse_number(value)
    assert str(raised.value) == f"{value!r} is not a number"


@pytest.mark.parametrize("value", ["nan", "inf", "inf%", "nan%", float("inf"), float("nan")])
def test_a_threshold_that_is_not_finite_is_refused_with_the_value(value: object) -> None:
    with pytest.raises(ValueError) as raised:
        parse_number(value)
    assert str(raised.value) == f"{value!r} is not a number"


# ---- counts (queue sizes, max_group_keys, min_spans) ----


def test_a_count_is_a_whole_number_of_at_least_its_minimum() -> None:
    assert parse_count(1) == 1
    assert parse_count(1_000) == 1000
    assert parse_count(0, minimum=0) == 0
    assert parse_count(2, minimum=2) == 2


@pytest.mark.parametrize(
    ("value", "minimum", "message"),
    [
        (0, 1, "must be a positive integer"),
        (-1, 0, "must be a non-negative integer"),
        (1, 2, "must be an integer >= 2"),
        ("1000", 1, "must be a positive integer"),
        (1.0, 1, "must be a positive integer"),
        (True, 1, "must be a positive integer"),
        (False, 0, "must be a non-negative integer"),
        (None, 1, "must be a positive integer"),
    ],
)
def test_a_count_that_is_not_one_names_what_is_wanted(value: object, minimum: int, message: str) -> None:
    with pytest.raises(ValueError) as raised:
        parse_count(value, minimum=minimum)
    assert str(raised.value) == message


def test_a_count_above_its_maximum_says_the_maximum() -> None:
    assert parse_count(10, maximum=10) == 10
    with pytest.raises(ValueError, match=r"^must be at most 10$"):
        parse_count(11, maximum=10)


@pytest.mark.parametrize(
    ("key", "value", "message"),
    [
        ("span_queue_size", "8192000000", "must be at most 1000000 (each queued span is kept in memory"),
        ("notification_queue_size", "1000000", "must be at most 100000 (per channel, each queued batch"),
        ("max_group_keys", "100001", "must be at most 100000 (per rule, each key's windows"),
    ],
)
def test_alerting_queue_sizes_have_a_ceiling_a_typo_cannot_pass(
    tmp_path: Path, key: str, value: str, message: str
) -> None:
    """'Every queue bounded': 10**12 was a bound only on paper; the app would run out of memory first."""
    path = tmp_path / "otelbundle.yaml"
    path.write_text(f"alerting:\n  {key}: {value}\n")
    with pytest.raises(ConfigError) as raised:
        load_alerting_config(str(path))
    (problem,) = raised.value.problems
    assert str(problem).startswith(f"{path}:2:{len(key) + 5}: {key} {message}")


# ---- durations: the words of each refusal ----


@pytest.mark.parametrize(("value", "shown"), [(float("inf"), "inf"), (float("nan"), "nan")])
def test_a_duration_that_is_not_finite_is_named_in_the_refusal(value: float, shown: str) -> None:
    with pytest.raises(ValueError) as raised:
        parse_duration(value)
    assert str(raised.value) == f"{shown} is not a duration"


def test_a_negative_duration_is_refused_as_negative_where_zero_is_allowed() -> None:
    with pytest.raises(ValueError) as raised:
        parse_duration(-1, allow_zero=True)
    assert str(raised.value) == "-1 must not be negative"


@pytest.mark.parametrize("text", ["1" * 400, "1" * 400 + "s", "1" * 400 + "ns"])
def test_a_well_formed_duration_too_long_for_a_float_is_refused_as_too_long(text: str) -> None:
    """Written digits that overflow a float are a duration past the bound, not ``inf``, which nobody wrote."""
    with pytest.raises(ValueError) as raised:
        parse_duration(text)
    assert str(raised.value).startswith(f"{text!r} is longer than the longest duration")


# ---- durations as a human reads them (bench output) ----


@pytest.mark.parametrize(
    ("seconds", "text"),
    [
        (0, "0s"),
        (0.25, "250ms"),
        (0.0005, "0.5ms"),
        (1, "1s"),
        (59.5, "59.5s"),
        (60, "1m"),
        (90, "1.5m"),
        (3599.4, "59.99m"),
        (3600, "1h"),
        (5400, "1.5h"),
        (86400, "24h"),
    ],
)
def test_a_duration_is_printed_in_its_largest_unit_up_to_hours(seconds: float, text: str) -> None:
    assert format_duration(seconds) == text
