"""Copies of finished spans, events, links and log records that keep the original's drop counts.

The export path hands the exporter copies, never the application's objects
changed in place: scrubbed values (:mod:`otelbundle.scrub.copies`), a resource
whose hash is computed once (:mod:`otelbundle.sdk.export.resource_once`). The
SDK's objects read their drop counts from their ``BoundedAttributes`` /
``BoundedList``; building those again would clean every value a second time
(the values are clean already: they come from the SDK, or from the scrubber,
which returns strings, tuples of them, or the value it was given). These copies
take plain containers and report the original's counts instead.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from opentelemetry.sdk._logs import ReadableLogRecord
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import Event, ReadableSpan
from opentelemetry.sdk.util.instrumentation import InstrumentationScope
from opentelemetry.trace import Link, SpanContext, Status


class SpanCopy(ReadableSpan):
    """``original`` with the given fields replaced; drop counts as the original's.

    Callers that have read a field already pass it, so no property of the original
    is read twice (``events`` and ``links`` copy the SDK's locked lists each time).
    """

    def __init__(
        self,
        original: ReadableSpan,
        *,
        name: str | None = None,
        resource: Resource | None = None,
        attributes: Mapping[str, Any] | None = None,
        events: Sequence[Event] | None = None,
        links: Sequence[Link] | None = None,
        status: Status | None = None,
        instrumentation_scope: InstrumentationScope | None = None,
    ) -> None:
        super().__init__(
            name=original.name if name is None else name,
            context=original.context,
            parent=original.parent,
            resource=original.resource if resource is None else resource,
            attributes=original.attributes if attributes is None else attributes,
            events=original.events if events is None else events,
            links=original.links if links is None else links,
            kind=original.kind,
            status=original.status if status is None else status,
            start_time=original.start_time,
            end_time=original.end_time,
            instrumentation_scope=(
                original.instrumentation_scope if instrumentation_scope is None else instrumentation_scope
            ),
        )
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


class EventCopy(Event):
    """An event with other attributes (a plain dict) or another name, and the original's drop count."""

    def __init__(
        self, original: Event, attributes: Mapping[str, Any] | None, name: str | None = None
    ) -> None:
        super().__init__(original.name if name is None else name, attributes, original.timestamp)
        self._original_dropped = original.dropped_attributes

    @property
    def dropped_attributes(self) -> int:
        return self._original_dropped


class LinkCopy(Link):
    """A link with other attributes (a plain dict) and the original's drop count."""

    def __init__(self, context: SpanContext, attributes: Mapping[str, Any], dropped: int) -> None:
        super().__init__(context, attributes)
        self._original_dropped = dropped

    @property
    def dropped_attributes(self) -> int:
        return self._original_dropped


@dataclass(frozen=True)
class LogRecordCopy(ReadableLogRecord):
    """A readable log record whose attributes may be a plain dict: drop count as the original's."""

    original_dropped: int = 0

    @property
    def dropped_attributes(self) -> int:
        return self.original_dropped
