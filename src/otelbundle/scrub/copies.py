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
import dataclasses
from collections.abc import Callable, Sequence
from typing import Any, Generic, TypeVar

from opentelemetry.attributes import BoundedAttributes
from opentelemetry.sdk._logs import ReadableLogRecord
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import Event, ReadableSpan
from opentelemetry.trace import Link, Status

from otelbundle.config.report import diagnostics_logger
from otelbundle.scrub.scrubber import Scrubber

Item = TypeVar("Item")

_RESOURCE_CACHE_LIMIT = 16


class _ScrubbedSpan(ReadableSpan):
    """A copy that reports the original's drop counts (the copy's containers are unbounded)."""

    def __init__(self, original: ReadableSpan, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._original_drops = (original.dropped_attributes, original.dropped_events, original.dropped_links)

    @property
    def dropped_attributes(self) -> int:
        return self._original_drops[0]

    @property
    def dropped_events(self) -> int:
        return self._original_drops[1]

    @property
    def dropped_links(self) -> int:
        return self._original_drops[2]


def _bounded(values: dict[str, Any], dropped: int) -> BoundedAttributes:
    attributes = BoundedAttributes(maxlen=None, attributes=values, immutable=True)
    attributes.dropped = dropped
    return attributes


class _Resources:
    """Scrubbed copies of the (few, long-lived) resources, computed once each."""

    def __init__(self, scrubber: Scrubber) -> None:
        self._scrubber = scrubber
        self._cache: dict[int, tuple[Resource, Resource]] = {}

    def get(self, resource: Resource) -> Resource:
        hit = self._cache.get(id(resource))
        if hit is not None and hit[0] is resource:
            return hit[1]
        changed = self._scrubber.attributes(resource.attributes)
        scrubbed = resource if changed is None else Resource(changed, resource.schema_url)
        if len(self._cache) >= _RESOURCE_CACHE_LIMIT:
            self._cache.clear()
        self._cache[id(resource)] = (resource, scrubbed)
        return scrubbed


def scrub_span(span: ReadableSpan, scrubber: Scrubber, resources: _Resources | None = None) -> ReadableSpan:
    """``span`` itself when nothing needs scrubbing, else a scrubbed copy."""
    s = scrubber
    attributes = span.attributes
    name = s.text(s.sql_name(span.name, attributes), "span.name")
    status = span.status
    description = status.description
    new_description = s.text(description, "span.status.message") if description else description
    new_attributes = s.attributes(attributes)
    events = span.events
    new_events: list[Event] | None = None
    for index, event in enumerate(events):
        changed = s.attributes(event.attributes)
        if changed is not None:
            if new_events is None:
                new_events = list(events)
            new_events[index] = Event(
                event.name, _bounded(changed, event.dropped_attributes), event.timestamp
            )
    links = span.links
    new_links: list[Link] | None = None
    for index, link in enumerate(links):
        changed = s.attributes(link.attributes)
        if changed is not None:
            if new_links is None:
                new_links = list(links)
            new_links[index] = Link(link.context, _bounded(changed, link.dropped_attributes))
    resource = resources.get(span.resource) if resources is not None else span.resource
    if (
        name == span.name
        and new_description == description
        and new_attributes is None
        and new_events is None
        and new_links is None
        and resource is span.resource
    ):
        return span
    return _ScrubbedSpan(
        span,
        name=name,
        context=span.context,
        parent=span.parent,
        resource=resource,
        attributes=_bounded(new_attributes, span.dropped_attributes)
        if new_attributes is not None
        else attributes,
        events=new_events if new_events is not None else events,
        links=new_links if new_links is not None else links,
        kind=span.kind,
        status=Status(status.status_code, new_description) if new_description != description else status,
        start_time=span.start_time,
        end_time=span.end_time,
        instrumentation_scope=span.instrumentation_scope,
    )


def scrub_log(
    record: ReadableLogRecord, scrubber: Scrubber, resources: _Resources | None = None
) -> ReadableLogRecord:
    """``record`` itself when nothing needs scrubbing, else a scrubbed copy."""
    log = record.log_record
    body = scrubber.body(log.body) if log.body is not None else None
    new_attributes = scrubber.attributes(log.attributes)
    resource = resources.get(record.resource) if resources is not None else record.resource
    if body == log.body and new_attributes is None and resource is record.resource:
        return record
    copied = copy.copy(log)
    copied.body = body
    if new_attributes is not None:
        copied.attributes = _bounded(new_attributes, record.dropped_attributes)
    return dataclasses.replace(record, log_record=copied, resource=resource)


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
    ) -> None:
        self._scrubber = scrubber
        self._copy = copy
        self._describe = describe
        self._resources = _Resources(scrubber)

    def __call__(self, batch: Sequence[Item]) -> list[Item]:
        scrubbed: list[Item] = []
        for item in batch:
            try:
                scrubbed.append(self._copy(item, self._scrubber, self._resources))
            except Exception as exc:
                self._scrubber.record_dropped(
                    f"{self._describe(item)} not exported: {type(exc).__name__}: {exc}"
                )
        return scrubbed

    def close(self) -> None:
        summary = self._scrubber.summary()
        if summary:
            diagnostics_logger().warning("%s", summary)


def span_step(scrubber: Scrubber) -> ScrubStep[ReadableSpan]:
    return ScrubStep(scrubber, scrub_span, lambda span: f"span {span.name!r}")


def log_step(scrubber: Scrubber) -> ScrubStep[ReadableLogRecord]:
    return ScrubStep(scrubber, scrub_log, lambda record: "a log record")
