"""ExemplarSpans: what evidence remembers of the spans offered by the rules' folds."""

from __future__ import annotations

from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from otelbundle.alerting.exemplar_spans import SPANS_PER_TRACE, ExemplarSpans
from otelbundle.alerting.trace_logs import TraceLogs


def _spans(names: list[str], *, one_trace: bool) -> list[ReadableSpan]:
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    tracer = provider.get_tracer("t")
    if one_trace:
        with tracer.start_as_current_span("root"):
            for name in names:
                tracer.start_span(name, attributes={"http.route": f"/{name}"}).end()
        return list(exporter.get_finished_spans()[:-1])  # without the root
    for name in names:
        tracer.start_span(name).end()
    return list(exporter.get_finished_spans())


def _names(exemplars: ExemplarSpans, trace_id: int) -> list[str]:
    entry = exemplars.get(trace_id)
    assert entry is not None
    return [facts.name for facts in entry.spans]


def test_a_span_offered_by_several_rules_is_remembered_once_and_others_of_its_trace_join_it() -> None:
    a, b = _spans(["a", "b"], one_trace=True)
    exemplars = ExemplarSpans(TraceLogs())
    trace_id = a.context.trace_id
    for span in (a, a, a, b, b, a):  # rules sharing a tally offer the same span in a row
        exemplars.offer(trace_id, span)
    assert _names(exemplars, trace_id) == ["a", "b"]
    entry = exemplars.get(trace_id)
    assert entry is not None and [facts.route for facts in entry.spans] == ["/a", "/b"]


def test_a_trace_keeps_its_newest_spans_up_to_the_limit() -> None:
    names = [f"s{i}" for i in range(SPANS_PER_TRACE + 2)]
    spans = _spans(names, one_trace=True)
    exemplars = ExemplarSpans(TraceLogs())
    for span in spans:
        exemplars.offer(span.context.trace_id, span)
    assert _names(exemplars, spans[0].context.trace_id) == names[-SPANS_PER_TRACE:]


def test_the_least_recently_offered_trace_goes_first_and_a_repeat_offer_still_counts_as_recent() -> None:
    first, second, third = _spans(["first", "second", "third"], one_trace=False)
    exemplars = ExemplarSpans(TraceLogs(), max_traces=2)
    exemplars.offer(first.context.trace_id, first)
    exemplars.offer(second.context.trace_id, second)
    exemplars.offer(first.context.trace_id, first)  # not the last span offered: first is recent again
    exemplars.offer(third.context.trace_id, third)
    assert exemplars.get(second.context.trace_id) is None
    assert _names(exemplars, first.context.trace_id) == ["first"]
    assert _names(exemplars, third.context.trace_id) == ["third"]
    exemplars.clear()
    assert exemplars.get(third.context.trace_id) is None
