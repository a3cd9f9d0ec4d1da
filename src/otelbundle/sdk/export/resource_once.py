"""Records handed to the OTLP exporter carry a resource whose hash is computed once.

The OTLP encoders group a batch by resource in a dict, so they hash the resource
of every span and log record, and ``Resource.__hash__`` serialises all of its
attributes to JSON each time: about 6 µs for the distro's resource (process, OS,
host), more than the rest of encoding a log record, a fifth of encoding a span.
A resource never changes, so neither does its hash. :class:`HashedResource` is
an equal copy that keeps its hash; :class:`ResourceCache` makes one per
resource; :class:`HashOnceSpans`, a step of the export wrapper, gives each span
of a batch the copy (a new ``ReadableSpan``, cheaper than the hash it saves:
2–4 µs against 5–6). With scrubbing on, the scrubbing step does the same in the
copy it makes anyway (:mod:`otelbundle.scrub.copies`). Log records get theirs
when the log batch processor makes their readable record
(:mod:`otelbundle.sdk.export.log_batch`), which costs nothing extra.

Better fixed upstream: ``Resource`` is immutable and could cache its hash.
"""

from __future__ import annotations

from collections.abc import Sequence

from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import ReadableSpan

from otelbundle.sdk.export.copies import SpanCopy

# Resources are few and long-lived (one per provider, a new one after fork): a small table.
_CACHE_LIMIT = 16


class HashedResource(Resource):
    """Equal to the resource it copies (same attributes and schema URL); its hash computed once."""

    def __init__(self, original: Resource) -> None:
        super().__init__(original.attributes, original.schema_url)
        self._hash = hash(original)

    def __hash__(self) -> int:
        return self._hash


class ResourceCache:
    """The :class:`HashedResource` of each resource seen, by identity."""

    def __init__(self) -> None:
        self._cache: dict[int, tuple[Resource, Resource]] = {}

    def get(self, resource: Resource) -> Resource:
        hit = self._cache.get(id(resource))
        if hit is not None and hit[0] is resource:
            return hit[1]
        if type(resource) is HashedResource:
            return resource
        hashed = HashedResource(resource)
        if len(self._cache) >= _CACHE_LIMIT:
            self._cache.clear()
        self._cache[id(resource)] = (resource, hashed)  # keeps `resource` alive: ids stay unique
        return hashed


class HashOnceSpans:
    """A step of the span export wrapper: each span with its resource's :class:`HashedResource`."""

    def __init__(self) -> None:
        self._resources = ResourceCache()

    def __call__(self, batch: Sequence[ReadableSpan]) -> Sequence[ReadableSpan]:
        get = self._resources.get
        return [
            span if type(span.resource) is HashedResource else SpanCopy(span, resource=get(span.resource))
            for span in batch
        ]

    def close(self) -> None:
        return None
