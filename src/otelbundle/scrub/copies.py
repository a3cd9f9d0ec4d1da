"""Scrubbed copies of spans and log records, handed to the real exporter by the export wrapper.

:class:`ScrubStep` is the ``prepare`` step of the one export wrapper
(:class:`otelbundle.sdk.export.wrapper.ExportWrapper`), which the configurator
installs through the SDK's ``export_span_processor`` /
``export_log_record_processor`` arguments, so every exporter the SDK builds
(OTLP, console, a vendor's) receives scrubbed data and the app's own span and
log objects are never modified. A record with nothing to scrub is passed on
as it is; a copy is made only when a value changed. If building a copy fails,
the record is left out of the batch and counted, never exported unscrubbed.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Sequence
from typing import Generic, TypeVar

from opentelemetry.sdk._logs import ReadableLogRecord
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import Event, ReadableSpan
from opentelemetry.sdk.util.instrumentation import InstrumentationScope
from opentelemetry.trace import Link, Status

from otelbundle.config.report import diagnostics_logger
from otelbundle.scrub.scrubber import Scrubber
from otelbundle.sdk.export.copies import EventCopy, LinkCopy, LogRecordCopy, SpanCopy
from otelbundle.sdk.export.resource_once import ResourceCache

Item = TypeVar("Item")

_RESOURCE_CACHE_LIMIT = 16


class _Resources:
    """Scrubbed copies of the (few, long-lived) resources and instrumentation scopes, computed once each.

    With ``hashed`` (the distro's export path) every resource handed on, scrubbed or
    not, is a :class:`~otelbundle.sdk.export.resource_once.HashedResource`, so the
    encoder does not hash it per record; spans then are always copied, here, in the
    one copy that scrubbing may need anyway.
    """

    def __init__(self, scrubber: Scrubber, hashed: bool = False) -> None:
        self._scrubber = scrubber
        self._hashed = ResourceCache() if hashed else None
        self._cache: dict[int, tuple[Resource, Resource]] = {}
        self._scopes: dict[int, tuple[InstrumentationScope, InstrumentationScope]] = {}

    def get(self, resource: Resource) -> Resource:
        hit = self._cache.get(id(resource))
        if hit is not None and hit[0] is resource:
            return hit[1]
        changed = self._scrubber.attributes(resource.attributes)
        scrubbed = resource if changed is None else Resource(changed, resource.schema_url)
        if self._hashed is not None:
            scrubbed = self._hashed.get(scrubbed)
        if len(self._cache) >= _RESOURCE_CACHE_LIMIT:
            self._cache.clear()
        self._cache[id(resource)] = (resource, scrubbed)
        return scrubbed

    def scope(self, scope: InstrumentationScope | None) -> InstrumentationScope | None:
        """``scope`` itself, or a copy whose attributes (``get_tracer(..., attributes=...)``) are scrubbed."""
        if scope is None:
            return None
        hit = self._scopes.get(id(scope))
        if hit is not None and hit[0] is scope:
            return hit[1]
        scrubbed = _scrubbed_scope(scope, self._scrubber)
        if len(self._scopes) >= _RESOURCE_CACHE_LIMIT:
            self._scopes.clear()
        self._scopes[id(scope)] = (scope, scrubbed)
        return scrubbed


def _scrubbed_scope(scope: InstrumentationScope, scrubber: Scrubber) -> InstrumentationScope:
    changed = scrubber.attributes(scope.attributes)
    if changed is None:
        return scope
    return InstrumentationScope(scope.name, scope.version, scope.schema_url, changed)


def scrub_span(span: ReadableSpan, scrubber: Scrubber, resources: _Resources) -> ReadableSpan:
    """``span`` itself when nothing needs scrubbing (nor its resource a hashed copy), else a copy.

    The copy's containers are plain (the scrubbed values are clean already: no
    second cleaning by ``BoundedAttributes``); drop counts are the original's. Every
    field is read from the span once.
    """
    s = scrubber
    attributes = span.attributes
    name = span.name
    new_name = s.span_name(name, attributes)
    status = span.status
    description = status.description
    new_description = s.text(description, "span.status.message") if description else description
    new_attributes = s.attributes(attributes)
    events = span.events
    new_events: list[Event] | None = None
    if events:
        for index, event in enumerate(events):
            changed = s.attributes(event.attributes)
            event_name = event.name
            new_event_name = s.text(event_name, "span.event.name") if event_name else event_name
            if changed is not None or new_event_name != event_name:
                if new_events is None:
                    new_events = list(events)
                new_events[index] = EventCopy(
                    event, event.attributes if changed is None else changed, new_event_name
                )
    links = span.links
    new_links: list[Link] | None = None
    if links:
        for index, link in enumerate(links):
            changed = s.attributes(link.attributes)
            if changed is not None:
                if new_links is None:
                    new_links = list(links)
                new_links[index] = LinkCopy(link.context, changed, link.dropped_attributes)
    resource = span.resource
    new_resource = resources.get(resource)
    scope = span.instrumentation_scope
    new_scope = resources.scope(scope)
    if (
        new_name == name
        and new_description == description
        and new_attributes is None
        and new_events is None
        and new_links is None
        and new_resource is resource
        and new_scope is scope
    ):
        return span
    return SpanCopy(
        span,
        name=new_name,
        resource=new_resource,
        instrumentation_scope=new_scope,
        attributes=attributes if new_attributes is None else new_attributes,
        events=events if new_events is None else new_events,
        links=links if new_links is None else new_links,
        status=status if new_description == description else Status(status.status_code, new_description),
    )


def scrub_log(record: ReadableLogRecord, scrubber: Scrubber, resources: _Resources) -> ReadableLogRecord:
    """``record`` itself when nothing needs scrubbing, else a scrubbed copy."""
    log = record.log_record
    body = scrubber.body(log.body) if log.body is not None else None
    new_attributes = scrubber.attributes(log.attributes)
    event_name = log.event_name
    new_event_name = scrubber.text(event_name, "log.event_name") if event_name else event_name
    resource = resources.get(record.resource)
    scope = record.instrumentation_scope
    new_scope = resources.scope(scope)
    if (
        body == log.body
        and new_attributes is None
        and new_event_name == event_name
        and resource is record.resource
        and new_scope is scope
    ):
        return record
    copied = copy.copy(log)
    copied.body = body
    copied.event_name = new_event_name
    if new_attributes is not None:
        copied.attributes = new_attributes
    return LogRecordCopy(
        log_record=copied,
        resource=resource,
        instrumentation_scope=new_scope,
        limits=record.limits,
        original_dropped=record.dropped_attributes,
    )


class ScrubStep(Generic[Item]):
    """The scrubbing step of the export path, one class for spans and log records.

    Given to :class:`~otelbundle.sdk.export.wrapper.ExportWrapper` as its ``prepare``:
    it runs on the export thread and returns the batch with scrubbed copies. An
    item whose copy cannot be made is left out and counted by the scrubber, never
    exported unscrubbed. ``close`` says the scrubber's summary at shutdown.
    """

    def __init__(
        self,
        scrubber: Scrubber,
        copy: Callable[[Item, Scrubber, _Resources], Item],
        describe: Callable[[Item], str],
        hash_resources: bool = False,
    ) -> None:
        self._scrubber = scrubber
        self._copy = copy
        self._describe = describe
        self._resources = _Resources(scrubber, hashed=hash_resources)

    def __call__(self, batch: Sequence[Item]) -> list[Item]:
        scrubbed: list[Item] = []
        keep, make, scrubber, resources = scrubbed.append, self._copy, self._scrubber, self._resources
        for item in batch:
            try:
                keep(make(item, scrubber, resources))
            except Exception as exc:
                self._scrubber.record_dropped(
                    f"{self._describe(item)} not exported: {type(exc).__name__}: {exc}"
                )
        return scrubbed

    def close(self) -> None:
        summary = self._scrubber.summary()
        if summary:
            diagnostics_logger().warning("%s", summary)


def span_step(scrubber: Scrubber, hash_resources: bool = False) -> ScrubStep[ReadableSpan]:
    """Scrubbing for spans; ``hash_resources``: every span also gets its resource's hashed copy
    (the distro's export path, in place of a separate :class:`HashOnceSpans` step)."""
    return ScrubStep(scrubber, scrub_span, lambda span: f"span {span.name!r}", hash_resources)


def log_step(scrubber: Scrubber) -> ScrubStep[ReadableLogRecord]:
    return ScrubStep(scrubber, scrub_log, lambda record: "a log record")
