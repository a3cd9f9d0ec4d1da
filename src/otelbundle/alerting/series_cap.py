"""At most so many label sets handed to the metrics SDK for one instrument, the rest in one overflow set.

The SDK (1.45) keeps an aggregation for every attribute set an instrument was
ever given, for the life of the process, and has no cardinality limit. The
alerts gauge gives one set per alert, with the alert's labels: rules grouped by
a path or a message text turn their keys over, and a 25-minute soak saw the
gauge's aggregations grow without end (4 234 to 47 170, ~1.3 kB each) while
only the current alerts were exported. Past ``limit`` distinct sets, new ones
are counted in one set per group with ``otel.metric.overflow = true``, the
attribute and the default limit (2 000) the OpenTelemetry specification gives
SDKs that do have a cardinality limit.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

OVERFLOW_ATTRIBUTE = "otel.metric.overflow"
DEFAULT_LIMIT = 2000


class SeriesCap:
    """Which label sets may be handed to the SDK: those seen before, and new ones until ``limit``.

    Not thread-safe: used under its owner's lock (the gauge callback's)."""

    def __init__(self, limit: int = DEFAULT_LIMIT, on_full: Callable[[int], None] | None = None) -> None:
        self._limit = limit
        self._admitted: set[tuple[tuple[str, str], ...]] = set()
        self._on_full = on_full
        self._said = False

    def admit(self, attributes: Mapping[str, str]) -> bool:
        key = tuple(sorted(attributes.items()))
        if key in self._admitted:
            return True
        if len(self._admitted) < self._limit:
            self._admitted.add(key)
            return True
        if not self._said:
            self._said = True
            if self._on_full is not None:
                self._on_full(self._limit)
        return False
