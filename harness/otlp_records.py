"""Flattened, test-friendly views of decoded OTLP export requests.

Tests compare plain values (hex ids, attribute dicts, ints), not protobuf
messages, so every record here is built from ``opentelemetry-proto`` messages by
a pure function; the receiver only stores the results.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from opentelemetry.proto.collector.logs.v1 import logs_service_pb2
from opentelemetry.proto.collector.metrics.v1 import metrics_service_pb2
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue
from opentelemetry.proto.metrics.v1.metrics_pb2 import Metric


def any_value(value: AnyValue) -> Any:
    kind = value.WhichOneof("value")
    if kind is None:
        return None
    if kind == "array_value":
        return [any_value(v) for v in value.array_value.values]
    if kind == "kvlist_value":
        return attributes(value.kvlist_value.values)
    if kind == "bytes_value":
        return bytes(value.bytes_value)
    return getattr(value, kind)


def attributes(items: Any) -> dict[str, Any]:
    return {kv.key: any_value(kv.value) for kv in items if isinstance(kv, KeyValue)}


@dataclass(frozen=True)
class SpanEvent:
    name: str
    attributes: dict[str, Any]
    time_unix_nano: int


@dataclass(frozen=True)
class SpanLink:
    trace_id: str
    span_id: str
    attributes: dict[str, Any]


@dataclass(frozen=True)
class SpanRecord:
    trace_id: str
    span_id: str
    parent_span_id: str
    name: str
    kind: int
    attributes: dict[str, Any]
    resource: dict[str, Any]
    status_code: int
    scope: str
    status_message: str = ""
    start_time_unix_nano: int = 0
    end_time_unix_nano: int = 0
    flags: int = 0
    events: tuple[SpanEvent, ...] = ()
    links: tuple[SpanLink, ...] = ()

    @property
    def service(self) -> str:
        return str(self.resource.get("service.name", ""))

    def event(self, name: str) -> SpanEvent | None:
        """The first event called ``name`` (e.g. ``"exception"``), or None."""
        return next((e for e in self.events if e.name == name), None)


@dataclass(frozen=True)
class MetricPoint:
    """One data point. ``value`` is the gauge/sum value or a histogram's sum."""

    name: str
    unit: str
    attributes: dict[str, Any]
    value: float | None
    count: int | None
    resource: dict[str, Any]
    kind: str = ""  # "gauge", "sum", "histogram", "exponential_histogram" or "summary"
    monotonic: bool | None = None  # sums only
    temporality: int = 0  # AggregationTemporality: 1 delta, 2 cumulative
    scope: str = ""
    bucket_counts: tuple[int, ...] = ()
    explicit_bounds: tuple[float, ...] = ()
    time_unix_nano: int = 0

    @property
    def service(self) -> str:
        return str(self.resource.get("service.name", ""))


@dataclass(frozen=True)
class LogRecordView:
    body: Any
    severity_number: int
    severity_text: str
    trace_id: str
    span_id: str
    flags: int
    attributes: dict[str, Any]
    resource: dict[str, Any]
    time_unix_nano: int = 0
    observed_time_unix_nano: int = 0
    event_name: str = ""
    scope: str = ""

    @property
    def service(self) -> str:
        return str(self.resource.get("service.name", ""))


@dataclass
class _PointFields:
    attributes: dict[str, Any]
    value: float | None
    count: int | None
    time_unix_nano: int
    bucket_counts: tuple[int, ...] = ()
    explicit_bounds: tuple[float, ...] = ()


def _points(metric: Metric) -> Iterator[_PointFields]:
    kind = metric.WhichOneof("data")
    if kind in ("gauge", "sum"):
        for point in getattr(metric, kind).data_points:
            value = point.as_double if point.WhichOneof("value") == "as_double" else float(point.as_int)
            yield _PointFields(attributes(point.attributes), value, None, point.time_unix_nano)
    elif kind == "histogram":
        for point in metric.histogram.data_points:
            yield _PointFields(
                attributes(point.attributes),
                point.sum,
                int(point.count),
                point.time_unix_nano,
                tuple(int(c) for c in point.bucket_counts),
                tuple(point.explicit_bounds),
            )
    elif kind in ("exponential_histogram", "summary"):
        for point in getattr(metric, kind).data_points:
            yield _PointFields(
                attributes(point.attributes), point.sum, int(point.count), point.time_unix_nano
            )


def spans_of(request: trace_service_pb2.ExportTraceServiceRequest) -> list[SpanRecord]:
    return [
        SpanRecord(
            trace_id=span.trace_id.hex(),
            span_id=span.span_id.hex(),
            parent_span_id=span.parent_span_id.hex(),
            name=span.name,
            kind=int(span.kind),
            attributes=attributes(span.attributes),
            resource=attributes(rs.resource.attributes),
            status_code=int(span.status.code),
            scope=ss.scope.name,
            status_message=span.status.message,
            start_time_unix_nano=int(span.start_time_unix_nano),
            end_time_unix_nano=int(span.end_time_unix_nano),
            flags=int(span.flags),
            events=tuple(
                SpanEvent(e.name, attributes(e.attributes), int(e.time_unix_nano)) for e in span.events
            ),
            links=tuple(
                SpanLink(link.trace_id.hex(), link.span_id.hex(), attributes(link.attributes))
                for link in span.links
            ),
        )
        for rs in request.resource_spans
        for ss in rs.scope_spans
        for span in ss.spans
    ]


def metric_points_of(request: metrics_service_pb2.ExportMetricsServiceRequest) -> list[MetricPoint]:
    points: list[MetricPoint] = []
    for rm in request.resource_metrics:
        resource = attributes(rm.resource.attributes)
        for sm in rm.scope_metrics:
            for metric in sm.metrics:
                kind = metric.WhichOneof("data") or ""
                data = getattr(metric, kind) if kind else None
                monotonic = bool(data.is_monotonic) if kind == "sum" and data is not None else None
                temporality = int(getattr(data, "aggregation_temporality", 0)) if data is not None else 0
                points.extend(
                    MetricPoint(
                        name=metric.name,
                        unit=metric.unit,
                        attributes=p.attributes,
                        value=p.value,
                        count=p.count,
                        resource=resource,
                        kind=kind,
                        monotonic=monotonic,
                        temporality=temporality,
                        scope=sm.scope.name,
                        bucket_counts=p.bucket_counts,
                        explicit_bounds=p.explicit_bounds,
                        time_unix_nano=int(p.time_unix_nano),
                    )
                    for p in _points(metric)
                )
    return points


def logs_of(request: logs_service_pb2.ExportLogsServiceRequest) -> list[LogRecordView]:
    return [
        LogRecordView(
            body=any_value(record.body),
            severity_number=int(record.severity_number),
            severity_text=record.severity_text,
            trace_id=record.trace_id.hex(),
            span_id=record.span_id.hex(),
            flags=int(record.flags),
            attributes=attributes(record.attributes),
            resource=attributes(rl.resource.attributes),
            time_unix_nano=int(record.time_unix_nano),
            observed_time_unix_nano=int(record.observed_time_unix_nano),
            event_name=record.event_name,
            scope=sl.scope.name,
        )
        for rl in request.resource_logs
        for sl in rl.scope_logs
        for record in sl.log_records
    ]
