"""A resource's hash computed once: equal to the original, and spans encode to the same bytes."""

from __future__ import annotations

from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import ReadableSpan, SpanLimits, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import Link, SpanContext, SpanKind, Status, StatusCode, TraceFlags

from otelbundle.sdk.export.resource_once import HashedResource, HashOnceSpans, ResourceCache


class Counting(Resource):
    """A resource that counts how often it is hashed."""

    hashed = 0

    def __hash__(self) -> int:
        Counting.hashed += 1
        return super().__hash__()


def test_the_hashed_copy_is_equal_and_hashes_the_original_once() -> None:
    original = Counting({"service.name": "shop", "host.name": "web-1"}, "https://schema")
    cache = ResourceCache()
    copy = cache.get(original)
    assert copy is cache.get(original) and cache.get(copy) is copy
    assert copy == original and original == copy and copy.schema_url == original.schema_url
    for _ in range(100):
        assert hash(copy) == hash(copy)
    assert Counting.hashed == 1
    grouped = {original: "batch"}
    assert grouped[copy] == "batch"  # the encoder's grouping sees one resource


def _spans() -> list[ReadableSpan]:
    exporter = InMemorySpanExporter()
    provider = TracerProvider(
        resource=Resource.create({"service.name": "shop"}), span_limits=SpanLimits(max_span_attributes=2)
    )
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    tracer = provider.get_tracer("t", "1.0")
    linked = SpanContext(0x1, 0x2, is_remote=True, trace_flags=TraceFlags(1))
    with tracer.start_as_current_span(
        "GET /x", kind=SpanKind.SERVER, links=[Link(linked, {"k": "v"})]
    ) as span:
        for i in range(4):
            span.set_attribute(f"a{i}", i)
        span.add_event("e", {"x": 1})
        span.set_status(Status(StatusCode.ERROR, "bad"))
        with tracer.start_as_current_span("SELECT"):
            pass
    return list(exporter.get_finished_spans())


def test_spans_with_the_hashed_resource_encode_to_the_same_bytes() -> None:
    spans = _spans()
    step = HashOnceSpans()
    copies = step(spans)
    assert all(type(s.resource) is HashedResource for s in copies)
    assert len({id(s.resource) for s in copies}) == 1
    assert copies[1].dropped_attributes == spans[1].dropped_attributes == 2
    assert encode_spans(copies).SerializeToString() == encode_spans(spans).SerializeToString()
    assert step(copies) == copies  # already hashed: passed on as they are
