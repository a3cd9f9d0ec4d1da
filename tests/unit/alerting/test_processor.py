"""The span processor on real SDK spans: matching, group cap, and never raising into the app."""

from __future__ import annotations

import logging
import time
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.trace import SpanKind, StatusCode

from otelbundle.alerting.engine import Engine
from otelbundle.alerting.manager import RuleManager
from otelbundle.alerting.processor import AlertingSpanProcessor
from otelbundle.alerting.rules import OVERFLOW_KEY
from tests.unit.alerting.helpers import Recorder, config_from

RULES = """
groups:
  - name: g
    rules:
      - alert: RouteErrors
        spans: {service: shop, kind: server}
        expr: error_count > 0
        group_by: [http.route]
        window: 1m
      - alert: AnythingSlow
        spans: {service: "sh*"}
        expr: max_duration > 1h
"""


def provider_with(
    tmp_path: Path, max_keys: int = 1000
) -> tuple[TracerProvider, AlertingSpanProcessor, Engine]:
    config = config_from(tmp_path, RULES, f"max_group_keys: {max_keys}\n")
    engine = Engine(config, Recorder(), clock=lambda: 100.0)
    processor = engine.processor
    provider = TracerProvider(resource=Resource.create({"service.name": "shop"}))
    provider.add_span_processor(processor)
    return provider, processor, engine


def test_real_spans_reach_the_matching_rule_grouped_by_route(tmp_path: Path) -> None:
    provider, processor, engine = provider_with(tmp_path)
    tracer = provider.get_tracer("t")
    for route in ("/a", "/b", "/a"):
        with tracer.start_as_current_span(
            "GET", kind=SpanKind.SERVER, attributes={"http.route": route}
        ) as span:
            span.set_status(StatusCode.ERROR)
    with tracer.start_as_current_span("internal work"):
        pass
    sent = engine.evaluate(100.0)
    routes = sorted(a.labels["http_route"] for a in sent if a.name == "RouteErrors")
    assert routes == ["/a", "/b"]
    assert processor.spans_seen == 4 and processor.errors == 0


def test_group_keys_are_capped_into_one_overflow_group(tmp_path: Path) -> None:
    provider, processor, engine = provider_with(tmp_path, max_keys=3)
    tracer = provider.get_tracer("t")
    for i in range(10):
        with tracer.start_as_current_span(
            "GET", kind=SpanKind.SERVER, attributes={"http.route": f"/{i}"}
        ) as s:
            s.set_status(StatusCode.ERROR)
    processor.drain(100.0)
    state = engine.states[("g", "RouteErrors")]
    assert len(state.windows) == 4 and OVERFLOW_KEY in state.windows
    assert state.overflowed_spans == 7
    overflow = [a for a in engine.evaluate(100.0) if a.labels.get("otel_overflow") == "true"]
    assert len(overflow) == 1


def test_reaching_max_group_keys_is_said_once_and_existing_keys_still_alert(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    provider, _processor, engine = provider_with(tmp_path, max_keys=2)
    tracer = provider.get_tracer("t")

    def errors(*routes: str) -> None:
        for route in routes:
            with tracer.start_as_current_span(
                "GET", kind=SpanKind.SERVER, attributes={"http.route": route}
            ) as s:
                s.set_status(StatusCode.ERROR)

    with caplog.at_level(logging.WARNING, logger="otelbundle.alerting"):
        errors("/a", "/b", "/c", "/d")
        engine.evaluate(100.0)
        errors("/a", "/e", "/f")
        sent = engine.evaluate(100.0 + 3600)
    said = [
        r.getMessage()
        for r in caplog.records
        if r.name == "otelbundle.alerting" and "max_group_keys" in r.getMessage()  # not its stderr copy
    ]
    assert said == [
        "otelbundle: alert rule 'RouteErrors' reached max_group_keys (2): spans of new group keys go to "
        "its otel_overflow alert (counted in otelbundle.alerting.spans.overflowed); existing keys still alert"
    ]
    assert engine.states[("g", "RouteErrors")].overflowed_spans == 4
    assert "/a" in {a.labels.get("http_route") for a in sent if a.status == "firing"}


attribute_values = st.one_of(
    st.text(max_size=20),
    st.integers(),
    st.floats(allow_nan=True),
    st.booleans(),
    st.lists(st.text(max_size=5), max_size=3),
)


@settings(max_examples=50, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.dictionaries(st.text(min_size=1, max_size=15), attribute_values, max_size=8), st.text(max_size=30))
def test_random_span_attributes_never_raise_into_the_app(
    tmp_path: Path, attributes: dict[str, object], name: str
) -> None:
    provider, processor, engine = provider_with(tmp_path)
    with provider.get_tracer("t").start_as_current_span(
        name or "x", kind=SpanKind.SERVER, attributes=attributes
    ):  # type: ignore[arg-type]
        pass
    engine.evaluate(100.0)
    assert processor.errors == 0


def end_spans(provider: TracerProvider, routes: list[str]) -> None:
    tracer = provider.get_tracer("t")
    for route in routes:
        with tracer.start_as_current_span(
            "GET", kind=SpanKind.SERVER, attributes={"http.route": route}
        ) as span:
            span.set_status(StatusCode.ERROR)


def test_on_end_only_queues_and_the_engine_folds_before_evaluating(tmp_path: Path) -> None:
    provider, processor, engine = provider_with(tmp_path)
    end_spans(provider, ["/a", "/a"])
    state = engine.states[("g", "RouteErrors")]
    assert state.windows == {}  # nothing touched on the app's thread
    assert processor.spans_seen == 2 and processor.spans_folded == 0
    sent = engine.evaluate(100.0)
    assert [a.labels["http_route"] for a in sent if a.name == "RouteErrors"] == ["/a"]
    assert processor.spans_folded == 2


def test_a_full_queue_drops_its_oldest_spans_and_counts_them(tmp_path: Path) -> None:
    config = config_from(tmp_path, RULES)
    engine = Engine(config, Recorder(), clock=lambda: 100.0, queue_size=4)
    processor = engine.processor
    provider = TracerProvider(resource=Resource.create({"service.name": "shop"}))
    provider.add_span_processor(processor)
    end_spans(provider, [f"/{i}" for i in range(10)])
    assert processor.spans_dropped == 6 and processor.spans_seen == 10
    sent = engine.evaluate(100.0)
    assert sorted(a.labels["http_route"] for a in sent if a.name == "RouteErrors") == ["/6", "/7", "/8", "/9"]


def test_a_span_in_an_empty_queue_wakes_the_engine_before_its_tick(tmp_path: Path) -> None:
    rules = RULES.replace("  - name: g\n", "  - name: g\n    interval: 1h\n")
    config = config_from(tmp_path, rules)
    config.span_queue_size = 40
    manager = RuleManager(config, Recorder())  # type: ignore[arg-type]
    processor = manager.processor
    provider = TracerProvider(resource=Resource.create({"service.name": "shop"}))
    provider.add_span_processor(processor)
    manager.start()
    try:
        end_spans(provider, ["/a"] * 12)  # the first span wakes it; the tick is an hour away
        deadline = time.monotonic() + 10
        while processor.spans_folded < 10 and time.monotonic() < deadline:
            time.sleep(0.01)
        assert processor.spans_folded >= 10
        assert processor.spans_dropped == 0
    finally:
        manager.stop()


def test_wakeup_is_asked_once_per_drain(tmp_path: Path) -> None:
    config = config_from(tmp_path, RULES)
    engine = Engine(config, Recorder(), clock=lambda: 100.0)
    wakes: list[int] = []
    processor = AlertingSpanProcessor(engine.states.values(), queue_size=8, wakeup=lambda: wakes.append(1))
    provider = TracerProvider(resource=Resource.create({"service.name": "shop"}))
    provider.add_span_processor(processor)
    end_spans(provider, ["/a"] * 6)
    assert len(wakes) == 1
    processor.drain(100.0)
    end_spans(provider, ["/a"] * 3)
    assert len(wakes) == 2
