"""Folding spans in batches (shared signatures, per-span rules) must equal the plain definition:
for every span and rule, match it, take its group key and error, and add it to that window."""

from __future__ import annotations

import copy
import math
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import ReadableSpan

from otelbundle.alerting.batch import PlanCache, fold, span_view
from otelbundle.alerting.predicates import referenced_fields
from otelbundle.alerting.state import RuleState
from otelbundle.alerting.window import Totals, Window
from otelbundle.cli.ruletest import synthetic_span
from tests.unit.alerting.helpers import config_from

# Shared rules (read attributes and status), per-span rules (read duration), errors_where,
# resource attributes, a glob service, a name regex, multi-attribute group keys.
RULES = """
groups:
  - name: g
    rules:
      - {alert: RouteErrors, spans: {service: shop, kind: server}, expr: error_count > 0, group_by: [http.route]}
      - {alert: Slow, spans: {service: "sh*", where: ["duration > 50ms"]}, expr: count > 0, group_by: [http.route]}
      - alert: ByStatus
        spans: {service: shop, where: ["http.response.status_code >= 500 or status == error"]}
        expr: p95 > 1ms
        group_by: [http.route, http.request.method]
      - alert: CustomErrors
        spans: {name_regex: "^GET"}
        expr: error_ratio > 0
        errors_where: ["http.response.status_code == 404"]
      - alert: SlowAreErrors
        spans: {kind: server}
        expr: error_count > 0
        errors_where: ["duration > 100ms"]
        group_by: [deployment.environment]
      - {alert: Everything, expr: max_duration > 1h}
      - alert: OneCondition
        spans: {service: shop, where: 'http.route == "/a"'}
        expr: error_count > 0
        errors_where: http.response.status_code >= 500
      - alert: NotRouteA  # a missing http.route is "" here: decided once for every span without one
        spans: {service: shop, where: 'http.route !~ "^/a"'}
        expr: count > 0
        errors_where: 'http.response.status_code !~ "^5"'
"""

span_specs = st.lists(
    st.tuples(
        st.sampled_from(["GET /a", "GET /b", "POST /c"]),
        st.sampled_from(["server", "client", "internal"]),
        st.sampled_from(["shop", "shipping", "other"]),
        st.booleans(),  # status error
        st.floats(min_value=0.0001, max_value=0.5),
        st.sampled_from(["/a", "/b", None]),
        st.sampled_from([200, 404, 503, None]),
        st.sampled_from(["GET", "POST"]),
    ),
    max_size=60,
)


def reference(states: list[RuleState], spans: list, now: float) -> dict[tuple[str, tuple[str, ...]], Totals]:
    """The definition, one span at a time, into fresh windows."""
    windows: dict[tuple[str, tuple[str, ...]], Window] = {}
    for span in spans:
        view = span_view(span)
        for state in states:
            if not state.rule.matcher.matches(view):
                continue
            key = (state.rule.name, state.key_of(view))
            window = windows.setdefault(key, Window(state.rule.window, state.track_bins, state.exemplar_kind))
            window.add(now, view.duration, state.is_error(view), view.trace_id)
    return {key: window.totals(now) for key, window in windows.items()}


def same(a: Totals, b: Totals) -> bool:
    return (
        a.count == b.count
        and a.errors == b.errors
        and math.isclose(a.total_duration, b.total_duration, abs_tol=1e-9)
        and (a.longest == b.longest or (math.isnan(a.longest) and math.isnan(b.longest)))
        and a.bins == b.bins
    )


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(span_specs)
def test_batched_folding_equals_the_per_span_definition(tmp_path: Path, specs: list) -> None:
    config = config_from(tmp_path, RULES)
    resources = {
        name: Resource({"service.name": name, "deployment.environment": "prod"})
        for name in ("shop", "shipping", "other")
    }
    spans = [
        synthetic_span(
            name=name,
            kind=kind,
            error=error,
            duration=duration,
            attributes={
                k: v
                for k, v in {
                    "http.route": route,
                    "http.response.status_code": code,
                    "http.request.method": method,
                }.items()
                if v is not None
            },
            resource=resources[service],
            trace_id=i + 1,
        )
        for i, (name, kind, service, error, duration, route, code, method) in enumerate(specs)
    ]
    states = [RuleState(rule) for rule in config.rules]
    failures: list[int] = []
    plans = PlanCache(states)
    # Two folds through one cache: the second batch's signatures go where the first's went.
    half = len(spans) // 2
    fold(spans[:half], plans, 100.0, failures.append)
    fold(spans[half:], plans, 100.0, failures.append)
    assert failures == []
    got = {(s.rule.name, key): window.totals(100.0) for s in states for key, window in s.windows.items()}
    expected = reference([RuleState(rule) for rule in config.rules], spans, 100.0)
    assert got.keys() == expected.keys()
    for key in got:
        assert same(got[key], expected[key]), key


def test_rules_reading_duration_are_decided_per_span_the_rest_per_signature(tmp_path: Path) -> None:
    config = config_from(tmp_path, RULES)
    states = [RuleState(rule) for rule in config.rules]
    plan = PlanCache(states).plan_for(
        synthetic_span(
            name="GET /a",
            kind="server",
            error=False,
            duration=0.2,
            attributes={},
            resource=Resource({"service.name": "shop", "deployment.environment": "prod"}),
            trace_id=1,
        )
    )
    assert sorted(s.rule.name for s in plan.per_span) == ["Slow", "SlowAreErrors"]
    assert sorted(s.rule.name for s in plan.shared) == [
        "ByStatus",
        "CustomErrors",
        "Everything",
        "NotRouteA",
        "OneCondition",
        "RouteErrors",
    ]
    # Only attributes tell spans apart; built-ins come from the plan (name, kind) or the status.
    assert [name for name, _ in plan.fields] == [
        "http.request.method",
        "http.response.status_code",
        "http.route",
    ]


def test_referenced_fields_are_the_words_before_comparisons() -> None:
    assert referenced_fields('status == error and not (http.route =~ "^/a")') == {"status", "http.route"}
    assert referenced_fields("duration > 250ms or kind == client") == {"duration", "kind"}


def test_a_span_whose_attribute_cannot_be_hashed_is_still_counted(tmp_path: Path) -> None:
    config = config_from(tmp_path, RULES)
    states = [RuleState(rule) for rule in config.rules]
    span = synthetic_span(
        name="GET /a",
        kind="server",
        error=True,
        duration=0.01,
        attributes={"http.route": ["/a", "/b"]},  # a list: only hand-built spans carry one
        resource=Resource({"service.name": "shop"}),
        trace_id=7,
    )
    failures: list[int] = []
    fold([span, span], PlanCache(states), 100.0, failures.append)
    route_errors = next(s for s in states if s.rule.name == "RouteErrors")
    assert failures == []
    assert [w.totals(100.0).errors for w in route_errors.windows.values()] == [2]


def test_a_span_subclass_is_read_through_its_own_properties(tmp_path: Path) -> None:
    """The fold calls ReadableSpan's property getters directly (batch.GETTERS), which
    would bypass a subclass's override; a batch holding any other type is read as attributes."""
    config = config_from(tmp_path, RULES)
    states = [RuleState(rule) for rule in config.rules]
    plain = synthetic_span(
        name="POST /c", kind="server", error=True, duration=0.01,
        attributes={"http.route": "/c"}, resource=Resource({"service.name": "shop"}), trace_id=1,
    )  # fmt: skip

    class Renamed(ReadableSpan):
        @property
        def name(self) -> str:
            return "GET /renamed"  # matches CustomErrors' name_regex "^GET"; "POST /c" does not

    renamed = copy.copy(plain)
    renamed.__class__ = Renamed
    failures: list[int] = []
    fold([plain, renamed], PlanCache(states), 100.0, failures.append)
    custom = next(s for s in states if s.rule.name == "CustomErrors")
    assert failures == []
    assert [w.totals(100.0).count for w in custom.windows.values()] == [1]


def test_spans_ending_before_they_start_or_without_times_count_with_no_duration(tmp_path: Path) -> None:
    config = config_from(tmp_path, RULES)
    states = [RuleState(rule) for rule in config.rules]
    resource = Resource({"service.name": "shop"})
    backwards = synthetic_span(
        name="GET /a", kind="server", error=True, duration=-0.5,
        attributes={"http.route": "/a"}, resource=resource, trace_id=1,
    )  # fmt: skip
    timeless = ReadableSpan(
        name="GET /a", kind=backwards.kind, resource=resource, attributes={"http.route": "/a"}
    )
    failures: list[int] = []
    fold([backwards, timeless], PlanCache(states), 100.0, failures.append)
    everything = next(s for s in states if s.rule.name == "Everything")
    totals = [w.totals(100.0) for w in everything.windows.values()]
    assert failures == []
    assert [(t.count, t.total_duration, t.longest) for t in totals] == [(2, 0.0, 0.0)]


def test_signatures_under_one_key_make_one_window_update_with_the_newest_error_as_exemplar(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A rule without group_by sees every signature of a batch under its one key: the window
    gets their sum in one update (batch.apply_shares), and the exemplar an update offers is
    the error span that ended last, whichever signature it came from."""
    config = config_from(
        tmp_path,
        """
        groups:
          - name: g
            rules:
              - {alert: Errors, spans: {service: shop}, expr: error_count > 0}
              - {alert: Latency, spans: {service: shop}, expr: p95 > 1s}
        """,
    )
    states = [RuleState(rule) for rule in config.rules]
    shop = Resource({"service.name": "shop"})
    # Five signatures (name, route, status), ending at 10, 11, ... seconds; traces 1-5.
    shapes = [
        ("GET /a", "/a", False),
        ("GET /b", "/b", True),
        ("POST /c", "/c", True),
        ("GET /a", "/a", True),
        ("GET /d", "/d", False),
    ]
    spans = [
        synthetic_span(
            name=name, kind="server", error=error, duration=0.1 * (i + 1),
            attributes={"http.route": route}, resource=shop, trace_id=i + 1, end=10.0 + i,
        )
        for i, (name, route, error) in enumerate(shapes)
    ]  # fmt: skip
    updates: list[int] = []
    add_batch = Window.add_batch

    def counted(self: Window, *args: object) -> None:
        updates.append(id(self))
        add_batch(self, *args)  # type: ignore[arg-type]

    monkeypatch.setattr(Window, "add_batch", counted)
    failures: list[int] = []
    fold(list(reversed(spans)), PlanCache(states), 100.0, failures.append)  # queue order is not end order
    assert failures == []
    errors, latency = states
    assert len(updates) == 2  # one per rule, not one per signature (5 each)
    totals = errors.windows[()].totals(100.0)
    assert (totals.count, totals.errors) == (5, 3)
    assert errors.windows[()].exemplars(100.0) == [format(4, "032x")]  # the error that ended last
    bins = latency.windows[()].totals(100.0).bins
    assert bins is not None and sum(count for _, count in bins) == 5
    assert latency.windows[()].totals(100.0).longest == pytest.approx(0.5)


def test_routes_are_kept_for_a_bounded_number_of_signatures(tmp_path: Path) -> None:
    """A group_by over many values makes a signature per value: the routes kept stay
    under PlanCache.ROUTES_LIMIT, and every span is still counted under its own key."""
    config = config_from(tmp_path, RULES)
    states = [RuleState(rule) for rule in config.rules]
    plans = PlanCache(states)
    shop = Resource({"service.name": "shop"})
    routes = [f"/r{i}" for i in range(3 * PlanCache.ROUTES_LIMIT)]
    for batch_routes in (routes[: len(routes) // 2], routes[len(routes) // 2 :], routes):
        spans = [
            synthetic_span(
                name="GET /a", kind="server", error=True, duration=0.01,
                attributes={"http.route": route}, resource=shop, trace_id=i + 1,
            )
            for i, route in enumerate(batch_routes)
        ]  # fmt: skip
        fold(spans, plans, 100.0, pytest.fail)
        assert 0 < plans.routes_kept <= PlanCache.ROUTES_LIMIT
    route_errors = next(s for s in states if s.rule.name == "RouteErrors")
    assert len(route_errors.windows) == len(routes)
    assert {w.totals(100.0).errors for w in route_errors.windows.values()} == {2}


def test_kept_routes_tell_equal_values_of_other_types_apart(tmp_path: Path) -> None:
    """500, 500.0 and True are one dict key; the rules read them differently (a group key
    "500" or "500.0", a number comparison false for a bool). A signature's routes, kept
    from one fold to the next, must not carry one's verdict over to the other."""
    config = config_from(
        tmp_path,
        """
        groups:
          - name: g
            rules:
              - {alert: ByCode, spans: {service: shop}, expr: count > 0, group_by: [http.response.status_code]}
              - {alert: Retried, spans: {service: shop, where: ["retry > 0"]}, expr: count > 0}
        """,
    )
    states = [RuleState(rule) for rule in config.rules]
    plans = PlanCache(states)
    shop = Resource({"service.name": "shop"})
    for trace_id, (code, retry) in enumerate([(500, 1), (500.0, True), (500, 1)], start=1):
        span = synthetic_span(
            name="GET /a", kind="server", error=False, duration=0.01,
            attributes={"http.response.status_code": code, "retry": retry}, resource=shop, trace_id=trace_id,
        )  # fmt: skip
        fold([span], plans, 100.0, pytest.fail)
    by_code, retried = states
    assert {key: w.totals(100.0).count for key, w in by_code.windows.items()} == {("500",): 2, ("500.0",): 1}
    assert {key: w.totals(100.0).count for key, w in retried.windows.items()} == {(): 2}


@pytest.mark.parametrize(
    ("where", "expr", "exemplar"),
    [
        # the traffic of several signatures under one key: the span that ended last
        ("", "count > 0", 5),
        # a where: on duration decides span by span (batch._tally_per_span): the same picks
        ('where: ["duration > 1ms"]', "count > 0", 5),
        ('where: ["duration > 1ms"]', "max_duration > 1ms", 3),
    ],
)
def test_the_exemplar_of_a_count_is_the_span_that_ended_last_and_of_a_duration_the_slowest(
    tmp_path: Path, where: str, expr: str, exemplar: int
) -> None:
    """What an alert links to: its window's exemplar trace, from whichever signature it came."""
    config = config_from(
        tmp_path,
        f"""
        groups:
          - name: g
            rules:
              - {{alert: A, spans: {{service: shop, {where}}}, expr: {expr}}}
        """,
    )
    (state,) = [RuleState(rule) for rule in config.rules]
    shop = Resource({"service.name": "shop"})
    # Five signatures ending at 10 .. 14 s (traces 1-5); trace 3 is the slowest.
    spans = [
        synthetic_span(
            name=name, kind="server", error=False, duration=duration, attributes={"http.route": name[-2:]},
            resource=shop, trace_id=i + 1, end=10.0 + i,
        )
        for i, (name, duration) in enumerate(
            [("GET /a", 0.1), ("GET /b", 0.2), ("POST /c", 0.9), ("GET /a", 0.3), ("GET /d", 0.05)]
        )
    ]  # fmt: skip
    failures: list[int] = []
    fold(spans, PlanCache([state]), 100.0, failures.append)
    assert failures == []
    assert state.windows[()].exemplars(100.0)[0] == format(exemplar, "032x")
