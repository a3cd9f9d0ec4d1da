"""Scrubbing for metrics: the resource they are exported with and every data point's attributes.

Metrics leave through the fork-safe metric reader, not the span and log export
path, so they get a step of their own (``otelbundle.sdk.metric_reader``
``scrub_exports_with``). Every resource attribute becomes a Prometheus label, so
a token in ``OTEL_RESOURCE_ATTRIBUTES`` would otherwise reach a metrics backend
the application sends to directly, while the spans and logs carry it scrubbed.

Metric attributes are few and repeat at every export, so the scrubber's memory of
values it left unchanged makes a clean export a set lookup per point; nothing is
copied unless something changed. Runs on the reader's thread, once an interval.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from typing import Any, TypeVar

from opentelemetry.sdk.metrics.export import Metric, MetricsData, ResourceMetrics, ScopeMetrics

from otelbundle.scrub.copies import _Resources
from otelbundle.scrub.scrubber import Scrubber

_Point = TypeVar("_Point")


class MetricsScrub:
    """``data`` itself when nothing needs scrubbing, else a copy with the scrubbed parts replaced."""

    def __init__(self, scrubber: Scrubber) -> None:
        self._scrubber = scrubber
        self._resources = _Resources(scrubber)

    def __call__(self, data: MetricsData) -> MetricsData:
        resource_metrics = [self._resource_metrics(item) for item in data.resource_metrics]
        if all(new is old for new, old in zip(resource_metrics, data.resource_metrics, strict=True)):
            return data
        return dataclasses.replace(data, resource_metrics=resource_metrics)

    def _resource_metrics(self, item: ResourceMetrics) -> ResourceMetrics:
        resource = self._resources.get(item.resource)
        scopes = [self._scope_metrics(scope) for scope in item.scope_metrics]
        if resource is item.resource and _same(scopes, item.scope_metrics):
            return item
        return dataclasses.replace(item, resource=resource, scope_metrics=scopes)

    def _scope_metrics(self, item: ScopeMetrics) -> ScopeMetrics:
        scope = self._resources.scope(item.scope) or item.scope
        metrics = [self._metric(metric) for metric in item.metrics]
        if scope is item.scope and _same(metrics, item.metrics):
            return item
        return dataclasses.replace(item, scope=scope, metrics=metrics)

    def _metric(self, metric: Metric) -> Metric:
        points = getattr(metric.data, "data_points", None)
        if not points:
            return metric
        scrubbed = [self._point(point) for point in points]
        if _same(scrubbed, points):
            return metric
        data: Any = metric.data  # Sum, Gauge, Histogram or ExponentialHistogram: each has data_points
        return dataclasses.replace(metric, data=dataclasses.replace(data, data_points=scrubbed))

    def _point(self, point: _Point) -> _Point:
        changes: dict[str, Any] = {}
        attributes = self._attributes(getattr(point, "attributes", None))
        if attributes is not None:
            changes["attributes"] = attributes
        exemplars: Sequence[Any] = getattr(point, "exemplars", None) or ()
        if exemplars:
            scrubbed = [self._exemplar(exemplar) for exemplar in exemplars]
            if not _same(scrubbed, exemplars):
                changes["exemplars"] = scrubbed
        return dataclasses.replace(point, **changes) if changes else point  # type: ignore[type-var]

    def _exemplar(self, exemplar: Any) -> Any:
        """Attributes a view filtered out of the point are kept on its exemplars: scrubbed too."""
        attributes = self._attributes(exemplar.filtered_attributes)
        return (
            exemplar if attributes is None else dataclasses.replace(exemplar, filtered_attributes=attributes)
        )

    def _attributes(self, attributes: Mapping[str, Any] | None) -> dict[str, Any] | None:
        """The scrubbed attributes, or None when the rules change nothing."""
        return self._scrubber.attributes(attributes) if attributes else None


def _same(new: Sequence[object], old: Sequence[object]) -> bool:
    return all(a is b for a, b in zip(new, old, strict=True))
