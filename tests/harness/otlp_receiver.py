"""An in-process OTLP receiver for integration tests: gRPC and HTTP/protobuf.

It decodes requests with ``opentelemetry-proto`` — the same messages the
collector decodes — and keeps flattened, test-friendly records. Tests wait for
what they expect with :meth:`OtlpReceiver.wait_for` (a condition variable, no
fixed sleeps). ``fail_next`` and ``hang`` simulate a collector that rejects or
never answers.
"""

from __future__ import annotations

import gzip
import threading
import time
from collections.abc import Callable, Iterator
from concurrent import futures
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, TypeVar

import grpc
from opentelemetry.proto.collector.logs.v1 import logs_service_pb2, logs_service_pb2_grpc
from opentelemetry.proto.collector.metrics.v1 import metrics_service_pb2, metrics_service_pb2_grpc
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2, trace_service_pb2_grpc
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue
from opentelemetry.proto.logs.v1.logs_pb2 import LogRecord
from opentelemetry.proto.metrics.v1.metrics_pb2 import Metric
from opentelemetry.proto.trace.v1.trace_pb2 import Span as ProtoSpan

T = TypeVar("T")


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

    @property
    def service(self) -> str:
        return str(self.resource.get("service.name", ""))


@dataclass(frozen=True)
class MetricPoint:
    name: str
    unit: str
    attributes: dict[str, Any]
    value: float | None
    count: int | None
    resource: dict[str, Any]

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

    @property
    def service(self) -> str:
        return str(self.resource.get("service.name", ""))


def _points(metric: Metric) -> Iterator[tuple[dict[str, Any], float | None, int | None]]:
    kind = metric.WhichOneof("data")
    if kind in ("gauge", "sum"):
        for point in getattr(metric, kind).data_points:
            value = point.as_double if point.WhichOneof("value") == "as_double" else float(point.as_int)
            yield attributes(point.attributes), value, None
    elif kind in ("histogram", "exponential_histogram"):
        for point in getattr(metric, kind).data_points:
            yield attributes(point.attributes), point.sum, int(point.count)
    elif kind == "summary":
        for point in metric.summary.data_points:
            yield attributes(point.attributes), point.sum, int(point.count)


@dataclass
class OtlpReceiver:
    """Receives OTLP on 127.0.0.1 ephemeral ports; start() before use, stop() after."""

    spans: list[SpanRecord] = field(default_factory=list)
    metrics: list[MetricPoint] = field(default_factory=list)
    logs: list[LogRecordView] = field(default_factory=list)
    requests: dict[str, int] = field(default_factory=lambda: {"traces": 0, "metrics": 0, "logs": 0})
    grpc_port: int = 0
    http_port: int = 0
    _failures_left: int = 0
    _hang: threading.Event = field(default_factory=threading.Event)
    _changed: threading.Condition = field(default_factory=threading.Condition)
    _grpc: grpc.Server | None = None
    _http: ThreadingHTTPServer | None = None

    # ---- control -------------------------------------------------------
    def start(self) -> OtlpReceiver:
        self._grpc = grpc.server(futures.ThreadPoolExecutor(max_workers=8))
        trace_service_pb2_grpc.add_TraceServiceServicer_to_server(_TraceServicer(self), self._grpc)
        metrics_service_pb2_grpc.add_MetricsServiceServicer_to_server(_MetricsServicer(self), self._grpc)
        logs_service_pb2_grpc.add_LogsServiceServicer_to_server(_LogsServicer(self), self._grpc)
        self.grpc_port = self._grpc.add_insecure_port("127.0.0.1:0")
        self._grpc.start()
        self._http = ThreadingHTTPServer(("127.0.0.1", 0), _http_handler(self))
        self._http.daemon_threads = True
        self.http_port = self._http.server_address[1]
        threading.Thread(target=self._http.serve_forever, name="otlp-http", daemon=True).start()
        return self

    def stop(self) -> None:
        self._hang.clear()
        if self._grpc is not None:
            self._grpc.stop(grace=None)
        if self._http is not None:
            self._http.shutdown()
            self._http.server_close()

    def clear(self) -> None:
        with self._changed:
            self.spans.clear()
            self.metrics.clear()
            self.logs.clear()

    def fail_next(self, count: int) -> None:
        """Answer the next ``count`` export requests with UNAVAILABLE / HTTP 503."""
        self._failures_left = count

    def hang(self, on: bool = True) -> None:
        """Accept requests but never answer them (a blackholed collector) until hang(False)."""
        if on:
            self._hang.set()
        else:
            self._hang.clear()

    @property
    def http_endpoint(self) -> str:
        return f"http://127.0.0.1:{self.http_port}"

    @property
    def grpc_endpoint(self) -> str:
        return f"http://127.0.0.1:{self.grpc_port}"

    def env(self, protocol: str = "http/protobuf") -> dict[str, str]:
        """OTEL_* settings that point a subprocess at this receiver and export quickly."""
        endpoint = self.grpc_endpoint if protocol == "grpc" else self.http_endpoint
        return {
            "OTEL_EXPORTER_OTLP_ENDPOINT": endpoint,
            "OTEL_EXPORTER_OTLP_PROTOCOL": protocol,
            "OTEL_BSP_SCHEDULE_DELAY": "200",
            "OTEL_BLRP_SCHEDULE_DELAY": "200",
            "OTEL_METRIC_EXPORT_INTERVAL": "500",
        }

    # ---- waiting -------------------------------------------------------
    def wait_for(self, predicate: Callable[[OtlpReceiver], T], timeout: float = 20.0) -> T:
        """Block until ``predicate(self)`` is truthy; return its value or raise AssertionError."""
        end = time.monotonic() + timeout
        with self._changed:
            while True:
                result = predicate(self)
                if result:
                    return result
                remaining = end - time.monotonic()
                if remaining <= 0:
                    raise AssertionError(
                        f"timed out after {timeout}s waiting for telemetry; have {len(self.spans)} spans, "
                        f"{len(self.metrics)} metric points, {len(self.logs)} logs"
                    )
                self._changed.wait(min(remaining, 0.5))

    def spans_named(self, name: str) -> list[SpanRecord]:
        return [s for s in self.spans if s.name == name]

    def metric_names(self, service: str | None = None) -> set[str]:
        return {m.name for m in self.metrics if service is None or m.service == service}

    # ---- ingestion (called by the servers) -----------------------------
    def _gate(self) -> bool:
        """False when this request must fail; blocks while hanging."""
        while self._hang.is_set():
            time.sleep(0.05)
        if self._failures_left > 0:
            self._failures_left -= 1
            return False
        return True

    def _add_traces(self, request: trace_service_pb2.ExportTraceServiceRequest) -> None:
        records = [
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
            )
            for rs in request.resource_spans
            for ss in rs.scope_spans
            for span in ss.spans
            if isinstance(span, ProtoSpan)
        ]
        with self._changed:
            self.requests["traces"] += 1
            self.spans.extend(records)
            self._changed.notify_all()

    def _add_metrics(self, request: metrics_service_pb2.ExportMetricsServiceRequest) -> None:
        records = [
            MetricPoint(metric.name, metric.unit, attrs, value, count, attributes(rm.resource.attributes))
            for rm in request.resource_metrics
            for sm in rm.scope_metrics
            for metric in sm.metrics
            for attrs, value, count in _points(metric)
        ]
        with self._changed:
            self.requests["metrics"] += 1
            self.metrics.extend(records)
            self._changed.notify_all()

    def _add_logs(self, request: logs_service_pb2.ExportLogsServiceRequest) -> None:
        records = [
            LogRecordView(
                body=any_value(record.body),
                severity_number=int(record.severity_number),
                severity_text=record.severity_text,
                trace_id=record.trace_id.hex(),
                span_id=record.span_id.hex(),
                flags=int(record.flags),
                attributes=attributes(record.attributes),
                resource=attributes(rl.resource.attributes),
            )
            for rl in request.resource_logs
            for sl in rl.scope_logs
            for record in sl.log_records
            if isinstance(record, LogRecord)
        ]
        with self._changed:
            self.requests["logs"] += 1
            self.logs.extend(records)
            self._changed.notify_all()


class _TraceServicer(trace_service_pb2_grpc.TraceServiceServicer):  # type: ignore[misc]
    def __init__(self, receiver: OtlpReceiver) -> None:
        self.receiver = receiver

    def Export(self, request: Any, context: grpc.ServicerContext) -> Any:
        if not self.receiver._gate():
            context.abort(grpc.StatusCode.UNAVAILABLE, "receiver told to fail")
        self.receiver._add_traces(request)
        return trace_service_pb2.ExportTraceServiceResponse()


class _MetricsServicer(metrics_service_pb2_grpc.MetricsServiceServicer):  # type: ignore[misc]
    def __init__(self, receiver: OtlpReceiver) -> None:
        self.receiver = receiver

    def Export(self, request: Any, context: grpc.ServicerContext) -> Any:
        if not self.receiver._gate():
            context.abort(grpc.StatusCode.UNAVAILABLE, "receiver told to fail")
        self.receiver._add_metrics(request)
        return metrics_service_pb2.ExportMetricsServiceResponse()


class _LogsServicer(logs_service_pb2_grpc.LogsServiceServicer):  # type: ignore[misc]
    def __init__(self, receiver: OtlpReceiver) -> None:
        self.receiver = receiver

    def Export(self, request: Any, context: grpc.ServicerContext) -> Any:
        if not self.receiver._gate():
            context.abort(grpc.StatusCode.UNAVAILABLE, "receiver told to fail")
        self.receiver._add_logs(request)
        return logs_service_pb2.ExportLogsServiceResponse()


_HTTP_ROUTES: dict[str, tuple[type, type, str]] = {
    "/v1/traces": (
        trace_service_pb2.ExportTraceServiceRequest,
        trace_service_pb2.ExportTraceServiceResponse,
        "_add_traces",
    ),
    "/v1/metrics": (
        metrics_service_pb2.ExportMetricsServiceRequest,
        metrics_service_pb2.ExportMetricsServiceResponse,
        "_add_metrics",
    ),
    "/v1/logs": (
        logs_service_pb2.ExportLogsServiceRequest,
        logs_service_pb2.ExportLogsServiceResponse,
        "_add_logs",
    ),
}


def _http_handler(receiver: OtlpReceiver) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_POST(self) -> None:
            route = _HTTP_ROUTES.get(self.path)
            length = int(self.headers.get("Content-Length", "0"))
            body = self.rfile.read(length)
            if route is None:
                self._reply(404, b"")
                return
            if not receiver._gate():
                self._reply(503, b"")
                return
            if self.headers.get("Content-Encoding") == "gzip":
                body = gzip.decompress(body)
            request_type, response_type, add = route
            request = request_type()
            request.ParseFromString(body)
            getattr(receiver, add)(request)
            self._reply(200, response_type().SerializeToString())

        def _reply(self, status: int, payload: bytes) -> None:
            self.send_response(status)
            self.send_header("Content-Type", "application/x-protobuf")
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

        def log_message(self, format: str, *args: Any) -> None:
            return

    return Handler
