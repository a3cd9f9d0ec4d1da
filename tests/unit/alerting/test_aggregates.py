"""Every aggregate and predicate; the quantile error bound against exact quantiles."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from otelbundle.alerting.predicates import PredicateError, SpanView, parse_predicate
from otelbundle.alerting.window import RELATIVE_ACCURACY, Window
from tests.unit.alerting.helpers import Sim, config_from

SPAN = SpanView(
    "POST /checkout",
    "server",
    "error",
    0.3,
    {"http.request.method": "POST", "http.response.status_code": 503, "http.route": "/checkout"},
    {"service.name": "shop", "deployment.environment": "prod"},
)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ('http.request.method == "POST"', True),
        ("http.response.status_code >= 500", True),
        ("http.response.status_code < 500", False),
        ("duration > 250ms", True),
        ("duration > 1s", False),
        ("status == error", True),
        ("kind == client", False),
        ('name =~ "^POST "', True),
        ('name !~ "^POST "', False),
        ('deployment.environment == "prod"', True),  # resource attribute
        ("missing.attribute == 1", False),
        ("missing.attribute != 1", True),
        ('status == error and not (http.route == "/health")', True),
        ('kind == client or http.request.method == "POST"', True),
    ],
)
def test_predicates(text: str, expected: bool) -> None:
    assert parse_predicate(text)(SPAN) is expected


@pytest.mark.parametrize(
    ("text", "column"),
    [
        ("duration >", 11),
        ('status == "bogus"', 11),
        ("a == b", 6),
        ("(a == 1", 8),
        ("a === 1", 5),
        ('x =~ "("', 6),
    ],
)
def test_bad_predicates_name_the_column(text: str, column: int) -> None:
    with pytest.raises(PredicateError) as caught:
        parse_predicate(text)
    assert caught.value.column == column


AGG_RULE = """
groups:
  - name: g
    rules:
      - alert: A
        spans: {{service: shop}}
        expr: {expr}
        window: 10s
"""


@pytest.mark.parametrize(
    ("expr", "fires"),
    [
        ("count >= 4", True),
        ("rate > 0.35", True),  # 4 spans / 10 s
        ("rate > 0.45", False),
        ("error_count == 1", True),
        ("error_ratio >= 25%", True),
        ("error_ratio > 25%", False),
        ("avg_duration > 550ms", True),
        ("max_duration >= 2s", True),
        ("p50 < 150ms", True),
        ("p99 > 1900ms", True),
        ("quantile(0.75) < 150ms", True),
    ],
)
def test_aggregates(tmp_path: Path, expr: str, fires: bool) -> None:
    s = Sim(config_from(tmp_path, AGG_RULE.format(expr=expr)))
    for duration, error in ((0.1, False), (0.1, False), (0.1, True), (2.0, False)):
        s.span(duration=duration, error=error)
    s.at(0)
    assert (s.state() == "firing") is fires


def test_absent_fires_only_after_a_whole_quiet_window(tmp_path: Path) -> None:
    s = Sim(config_from(tmp_path, AGG_RULE.format(expr="absent")))
    s.at(5)
    assert s.state() == "inactive"  # loaded 5 s ago: not yet a whole window
    s.at(10)
    assert s.state() == "firing"
    s.span()
    s.at(11)
    assert s.state() == "inactive"


@settings(max_examples=60, deadline=None)
@given(
    st.lists(st.floats(min_value=1e-6, max_value=100.0, allow_nan=False), min_size=1, max_size=400),
    st.sampled_from([0.5, 0.9, 0.95, 0.99]),
)
def test_quantile_within_one_percent_of_exact(durations: list[float], q: float) -> None:
    window = Window(60.0)
    for value in durations:
        window.add(0.0, value, False, 0)
    exact = sorted(durations)[max(1, math.ceil(q * len(durations))) - 1]
    estimate = window.totals(0.0).quantile(q)
    assert abs(estimate - exact) <= RELATIVE_ACCURACY * exact * 1.0001


def test_expired_buckets_leave_the_window_exactly() -> None:
    window = Window(10.0)
    for t in range(30):
        window.add(float(t), 0.01 * (t + 1), t % 2 == 0, 0)
    totals = window.totals(29.0)
    assert totals.count == 11  # spans at t=19..29 (the bucket holding 19 overlaps the window)
    assert totals.errors == 5  # the even seconds among them: 20, 22, 24, 26, 28
    assert totals.bins is not None and sum(n for _, n in totals.bins) == totals.count
    assert totals.longest == 0.3
    assert window.totals(100.0).count == 0 and not window.totals(100.0).bins


def test_exemplars_leave_the_window_with_their_bucket() -> None:
    window = Window(10.0, exemplar_kind="slowest")
    window.add(0.0, 5.0, False, 0xA)  # the slowest, but it will expire
    window.add(8.0, 0.1, False, 0xB)
    assert window.exemplars(9.0)[0] == format(0xA, "032x")
    assert window.exemplars(15.0) == [format(0xB, "032x")]
    for t, trace_id in ((16.0, 0xC), (17.0, 0xD), (18.0, 0xE)):
        window.add(t, 0.2, False, trace_id)  # the expired one is replaced first
    assert format(0xA, "032x") not in window.exemplars(18.0)
    assert len(window.exemplars(18.0)) == 3


@settings(max_examples=30, deadline=None)
@given(
    st.lists(
        st.dictionaries(st.integers(-300, 300), st.integers(1, 5), min_size=1, max_size=40),
        min_size=1,
        max_size=300,
    )
)
def test_many_batches_in_one_bucket_keep_exact_bins(batches: list[dict[int, int]]) -> None:
    window = Window(60.0)
    expected: dict[int, int] = {}
    for bins in batches:  # every batch lands in the same bucket: repeated (slot, bin) triples
        window.add_batch(1.0, sum(bins.values()), 0, 0.0, 0.0, bins, 0.0, 0)
        for index, n in bins.items():
            expected[index] = expected.get(index, 0) + n
    totals = window.totals(1.0)
    assert totals.bins == sorted(expected.items())
    assert totals.count == sum(expected.values())


def test_a_busy_bucket_keeps_one_triple_per_distinct_bin_not_one_per_batch() -> None:
    window = Window(60.0)
    for _ in range(1000):  # a thousand drains into one bucket, each with the same ten bins
        window.add_batch(1.0, 10, 0, 0.0, 0.0, {index: 1 for index in range(10)}, 0.0, 0)
    assert window.totals(1.0).bins == [(index, 1000) for index in range(10)]
    # Uncompacted this would be 3 000 triples; merged, it stays near the ten distinct ones.
    assert window._triples is not None and len(window._triples) <= 3 * 100
