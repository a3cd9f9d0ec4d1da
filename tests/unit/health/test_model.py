from __future__ import annotations

import pytest

from otelbundle.config import parse_duration, parse_percent
from otelbundle.health.checks import to_verdict
from otelbundle.health.model import Status, Thresholds


def run(thresholds: Thresholds, values: list[float]) -> list[Status]:
    previous: Status | None = None
    out = []
    for value in values:
        previous = thresholds.classify(value, previous)
        out.append(previous)
    return out


def test_thresholds_without_hysteresis_flap_at_the_line() -> None:
    t = Thresholds(warning=80, critical=90, hysteresis=0)
    assert run(t, [79.9, 80.0, 79.9, 90.0, 89.9]) == [
        Status.HEALTHY,
        Status.DEGRADED,
        Status.HEALTHY,
        Status.FAILING,
        Status.DEGRADED,
    ]


def test_hysteresis_holds_a_state_until_the_value_falls_below_the_band() -> None:
    t = Thresholds(warning=80, critical=90, hysteresis=5)
    values = [81, 79, 76, 74.9, 91, 88, 85.1, 84.9, 74]
    assert run(t, values) == [
        Status.DEGRADED,  # entered at 80
        Status.DEGRADED,  # 79 is inside the band
        Status.DEGRADED,
        Status.HEALTHY,  # below 75
        Status.FAILING,
        Status.FAILING,  # 88 is inside the critical band (85..90)
        Status.FAILING,
        Status.DEGRADED,  # below 85 but above the (held) warning line of 75
        Status.HEALTHY,
    ]


def test_only_critical_or_only_warning() -> None:
    assert run(Thresholds(None, 90, 2), [95, 89, 87]) == [Status.FAILING, Status.FAILING, Status.HEALTHY]
    assert run(Thresholds(70, None, 0), [95, 60]) == [Status.DEGRADED, Status.HEALTHY]


@pytest.mark.parametrize(
    ("returned", "status", "message"),
    [
        (True, Status.HEALTHY, "healthy"),
        (None, Status.HEALTHY, "healthy"),
        (False, Status.FAILING, "failing"),
        ("ok", Status.HEALTHY, "healthy"),
        ("degraded", Status.DEGRADED, "degraded"),
        (Status.FAILING, Status.FAILING, "failing"),
        (("warn", "queue 80% full"), Status.DEGRADED, "queue 80% full"),
    ],
)
def test_python_check_return_values(returned: object, status: Status, message: str) -> None:
    verdict = to_verdict(returned)
    assert (verdict.status, verdict.message) == (status, message)


def test_python_check_bad_return_values_raise() -> None:
    with pytest.raises(ValueError, match="not a health status"):
        to_verdict("maybe")
    with pytest.raises(TypeError, match="returned int"):
        to_verdict(3)


def test_durations_and_percentages() -> None:
    assert parse_duration("500ms") == 0.5
    assert parse_duration("2m") == 120
    assert parse_duration(3) == 3
    assert parse_percent("85%") == 85
    assert parse_percent(12.5) == 12.5
    for bad in ("soon", "0s", True):
        with pytest.raises(ValueError):
            parse_duration(bad)
    for bad in ("lots", "120%", -1):
        with pytest.raises(ValueError):
            parse_percent(bad)
