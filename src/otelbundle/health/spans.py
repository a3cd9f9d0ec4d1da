"""Check results as span-like records for the in-process alert engine.

The alert engine evaluates rules over finished spans through a span
processor. Rather than teach it a second input, each result is turned into a
``ReadableSpan`` (public SDK type, constructed directly) named
``health <check name>`` and handed to that processor's ``on_end`` only — it
is never exported, so traces stay free of synthetic spans. A failing check is
a span with status ERROR, so ``error_count``, ``error_ratio`` and ``absent``
rules work unchanged.
"""

from __future__ import annotations

import logging
import random

from opentelemetry import trace
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import ReadableSpan, SpanProcessor
from opentelemetry.sdk.util.instrumentation import InstrumentationScope
from opentelemetry.trace import SpanContext, SpanKind, TraceFlags
from opentelemetry.trace.status import Status as SpanStatus
from opentelemetry.trace.status import StatusCode

from otelbundle.health.model import CheckResult, Status
from otelbundle.version import __version__

_logger = logging.getLogger(__name__)
_SCOPE = InstrumentationScope("otelbundle.health", __version__)
SPAN_NAME_PREFIX = "health "


def result_span(result: CheckResult, resource: Resource | None = None) -> ReadableSpan:
    """The synthetic span for one check result (its own trace; sampled so rules see it)."""
    rng = random.SystemRandom()
    context = SpanContext(
        trace_id=rng.getrandbits(128) or 1,
        span_id=rng.getrandbits(64) or 1,
        is_remote=False,
        trace_flags=TraceFlags(TraceFlags.SAMPLED),
    )
    failing = result.status is Status.FAILING
    return ReadableSpan(
        name=SPAN_NAME_PREFIX + result.name,
        context=context,
        resource=resource if resource is not None else _global_resource(),
        attributes={
            "health.check.name": result.name,
            "health.check.kind": result.kind,
            "health.status": result.status.label,
            "health.message": result.message,
            **result.attributes,
        },
        kind=SpanKind.INTERNAL,
        status=SpanStatus(StatusCode.ERROR, result.message) if failing else SpanStatus(StatusCode.OK),
        start_time=result.start_ns,
        end_time=result.end_ns,
        instrumentation_scope=_SCOPE,
    )


def _global_resource() -> Resource:
    resource = getattr(trace.get_tracer_provider(), "resource", None)
    return resource if isinstance(resource, Resource) else Resource.get_empty()


class SpanProcessorSink:
    """A :class:`ResultSink` that feeds one span processor (the alert engine's) and nothing else."""

    def __init__(self, processor: SpanProcessor) -> None:
        self.processor = processor

    def on_result(self, result: CheckResult) -> None:
        self.processor.on_end(result_span(result))

    def __eq__(self, other: object) -> bool:
        return isinstance(other, SpanProcessorSink) and other.processor is self.processor

    def __hash__(self) -> int:
        return id(self.processor)


def register_span_processor(processor: SpanProcessor) -> None:
    """Deliver every health check result to ``processor.on_end`` as a ``health <name>`` span."""
    from otelbundle.health.outputs import register_sink

    register_sink(SpanProcessorSink(processor))
