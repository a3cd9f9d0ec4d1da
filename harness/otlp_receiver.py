"""An in-process OTLP receiver for integration tests: gRPC, HTTP/protobuf and OTLP/JSON (gzip too).

It decodes requests with ``opentelemetry-proto`` — the same messages the
collector decodes — and keeps flattened, test-friendly records. Tests wait for
what they expect with :meth:`OtlpReceiver.wait_for` (a condition variable, no
fixed sleeps). ``fail_next``, ``hang`` and ``answer_after`` simulate a collector that
rejects, never answers, or answers slowly.
"""

from __future__ import annotations

import gzip
import sys
import threading
import time
from collections.abc import Callable
from concurrent import futures
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, TypeVar

import grpc
from google.protobuf.message import DecodeError, Message
from opentelemetry.proto.collector.logs.v1 import logs_service_pb2, logs_service_pb2_grpc
from opentelemetry.proto.collector.metrics.v1 import metrics_service_pb2, metrics_service_pb2_grpc
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2, trace_service_pb2_grpc

from harness import otlp_json
from harness.otlp_records import (
    LogRecordView,
    MetricPoint,
    SpanEvent,
    SpanLink,
    SpanRecord,
    any_value,
    attributes,
    logs_of,
    metric_points_of,
    spans_of,
)

T = TypeVar("T")

__all__ = [
    "LogRecordView",
    "MetricPoint",
    "OtlpReceiver",
    "RequestInfo",
    "SpanEvent",
    "SpanLink",
    "SpanRecord",
    "any_value",
    "attributes",
]


@dataclass(frozen=True)
class RequestInfo:
    """How one export request arrived, answered or not (tests check the wire, e.g. gzip)."""

    signal: str  # "traces", "metrics" or "logs"
    transport: str  # "grpc" or "http"
    content_type: str  # HTTP only
    content_encoding: str  # HTTP "gzip" or ""; always "" for gRPC, whose library decompresses unseen
    accepted: bool


PROTOBUF, JSON = "application/x-protobuf", "application/json"
SIGNALS = ("traces", "metrics", "logs")

# How an HTTP failure status is said over gRPC (the OTLP spec's retryable/non-retryable pairs).
_GRPC_CODES = {
    400: grpc.StatusCode.INVALID_ARGUMENT,
    429: grpc.StatusCode.RESOURCE_EXHAUSTED,
    500: grpc.StatusCode.INTERNAL,
    502: grpc.StatusCode.UNAVAILABLE,
    503: grpc.StatusCode.UNAVAILABLE,
    504: grpc.StatusCode.DEADLINE_EXCEEDED,
}


@dataclass
class OtlpReceiver:
    """Receives OTLP on 127.0.0.1 ephemeral ports; start() before use, stop() after.

    ``requests`` counts accepted export requests per signal, ``rejected`` the ones it
    refused (``fail_next`` or an undecodable body); ``received`` lists every request.
    """

    spans: list[SpanRecord] = field(default_factory=list)
    metrics: list[MetricPoint] = field(default_factory=list)
    logs: list[LogRecordView] = field(default_factory=list)
    requests: dict[str, int] = field(default_factory=lambda: dict.fromkeys(SIGNALS, 0))
    rejected: dict[str, int] = field(default_factory=lambda: dict.fromkeys(SIGNALS, 0))
    received: list[RequestInfo] = field(default_factory=list)
    grpc_port: int = 0
    http_port: int = 0
    _failures_left: int = 0
    _failure_status: int = 503
    _retry_after: int | None = None
    _answer_delay: float = 0.0
    _released: threading.Event = field(default_factory=threading.Event)
    _changed: threading.Condition = field(default_factory=threading.Condition)
    _grpc: grpc.Server | None = None
    _http: ThreadingHTTPServer | None = None

    # ---- control -------------------------------------------------------
    def start(self) -> OtlpReceiver:
        self._released.set()
        self._grpc = grpc.server(futures.ThreadPoolExecutor(max_workers=8))
        for add, signal, response in (
            (trace_service_pb2_grpc.add_TraceServiceServicer_to_server, "traces", _TRACE_RESPONSE),
            (metrics_service_pb2_grpc.add_MetricsServiceServicer_to_server, "metrics", _METRICS_RESPONSE),
            (logs_service_pb2_grpc.add_LogsServiceServicer_to_server, "logs", _LOGS_RESPONSE),
        ):
            add(_Servicer(self, signal, response), self._grpc)
        self.grpc_port = self._grpc.add_insecure_port("127.0.0.1:0")
        self._grpc.start()
        self._http = _QuietHTTPServer(("127.0.0.1", 0), _http_handler(self))
        self.http_port = self._http.server_address[1]
        threading.Thread(target=self._http.serve_forever, name="otlp-http", daemon=True).start()
        return self

    def stop(self) -> None:
        self._released.set()  # let hanging handlers finish so the servers can close
        if self._grpc is not None:
            self._grpc.stop(grace=None)
        if self._http is not None:
            self._http.shutdown()
            self._http.server_close()

    def clear(self) -> None:
        """Forget everything received so far (records, counts and the request list)."""
        with self._changed:
            self.spans.clear()
            self.metrics.clear()
            self.logs.clear()
            self.received.clear()
            self.requests.update(dict.fromkeys(SIGNALS, 0))
            self.rejected.update(dict.fromkeys(SIGNALS, 0))

    def fail_next(self, count: int, *, status: int = 503, retry_after: int | None = None) -> None:
        """Refuse the next ``count`` export requests: HTTP ``status`` (503 by default, 429 and
        502/504 are retryable, 400 is not) or the matching gRPC code (503 -> UNAVAILABLE).
        ``retry_after`` adds a Retry-After header (seconds) to the HTTP answers."""
        with self._changed:
            self._failures_left = count
            self._failure_status = status
            self._retry_after = retry_after

    def hang(self, on: bool = True) -> None:
        """Accept requests but never answer them (a blackholed collector) until hang(False)."""
        if on:
            self._released.clear()
        else:
            self._released.set()

    def answer_after(self, seconds: float) -> None:
        """Take ``seconds`` over every request before storing and answering it (a busy collector)."""
        self._answer_delay = seconds

    @property
    def http_endpoint(self) -> str:
        return f"http://127.0.0.1:{self.http_port}"

    @property
    def grpc_endpoint(self) -> str:
        return f"http://127.0.0.1:{self.grpc_port}"

    def env(self, protocol: str = "http/protobuf", *, exporters: bool = False) -> dict[str, str]:
        """OTEL_* settings that point a subprocess at this receiver and export quickly.

        ``exporters=True`` also names the OTLP exporter for every signal and turns on the
        logging instrumentation's handler: what plain upstream ``opentelemetry-instrument``
        (without the otelbundle distro's defaults) needs to send all three signals.
        """
        endpoint = self.grpc_endpoint if protocol == "grpc" else self.http_endpoint
        env = {
            "OTEL_EXPORTER_OTLP_ENDPOINT": endpoint,
            "OTEL_EXPORTER_OTLP_PROTOCOL": protocol,
            "OTEL_BSP_SCHEDULE_DELAY": "200",
            "OTEL_BLRP_SCHEDULE_DELAY": "200",
            "OTEL_METRIC_EXPORT_INTERVAL": "500",
        }
        if exporters:
            env |= {
                "OTEL_TRACES_EXPORTER": "otlp",
                "OTEL_METRICS_EXPORTER": "otlp",
                "OTEL_LOGS_EXPORTER": "otlp",
                "OTEL_PYTHON_LOGGING_AUTO_INSTRUMENTATION_ENABLED": "true",
            }
        return env

    # ---- waiting and reading -------------------------------------------
    def wait_for(self, predicate: Callable[[OtlpReceiver], T], timeout: float = 20.0) -> T:
        """Block until ``predicate(self)`` is truthy; return its value or raise AssertionError.

        The predicate runs under the receiver's lock, woken by every arriving request.
        """
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
                        f"{len(self.metrics)} metric points, {len(self.logs)} logs; "
                        f"requests accepted {self.requests}, rejected {self.rejected}"
                    )
                self._changed.wait(remaining)

    def spans_named(self, name: str) -> list[SpanRecord]:
        return [s for s in self.spans if s.name == name]

    def spans_in_trace(self, trace_id: str) -> list[SpanRecord]:
        return [s for s in self.spans if s.trace_id == trace_id]

    def logs_in_trace(self, trace_id: str) -> list[LogRecordView]:
        return [r for r in self.logs if r.trace_id == trace_id]

    def points_named(self, name: str, service: str | None = None) -> list[MetricPoint]:
        return [m for m in self.metrics if m.name == name and (service is None or m.service == service)]

    def metric_names(self, service: str | None = None) -> set[str]:
        return {m.name for m in self.metrics if service is None or m.service == service}

    # ---- ingestion (called by the servers' threads) ---------------------
    def _admit(self) -> tuple[int, int | None] | None:
        """None to accept the request, else (status, retry_after); blocks while hanging."""
        self._released.wait()
        if self._answer_delay > 0:
            time.sleep(self._answer_delay)
        with self._changed:
            if self._failures_left <= 0:
                return None
            self._failures_left -= 1
            return self._failure_status, self._retry_after

    def _refused(self, info: RequestInfo) -> None:
        with self._changed:
            self.rejected[info.signal] += 1
            self.received.append(info)
            self._changed.notify_all()

    def _store(self, info: RequestInfo, request: Any) -> None:
        with self._changed:
            if info.signal == "traces":
                self.spans.extend(spans_of(request))
            elif info.signal == "metrics":
                self.metrics.extend(metric_points_of(request))
            else:
                self.logs.extend(logs_of(request))
            self.requests[info.signal] += 1
            self.received.append(info)
            self._changed.notify_all()


class _QuietHTTPServer(ThreadingHTTPServer):
    """Clients that gave up (a timed-out exporter after ``hang``) are normal here, not tracebacks."""

    daemon_threads = True

    def handle_error(self, request: Any, client_address: Any) -> None:
        if not isinstance(sys.exc_info()[1], ConnectionError):
            super().handle_error(request, client_address)


_TRACE_RESPONSE = trace_service_pb2.ExportTraceServiceResponse
_METRICS_RESPONSE = metrics_service_pb2.ExportMetricsServiceResponse
_LOGS_RESPONSE = logs_service_pb2.ExportLogsServiceResponse

_HTTP_ROUTES: dict[str, tuple[str, type[Message], type[Message]]] = {
    "/v1/traces": ("traces", trace_service_pb2.ExportTraceServiceRequest, _TRACE_RESPONSE),
    "/v1/metrics": ("metrics", metrics_service_pb2.ExportMetricsServiceRequest, _METRICS_RESPONSE),
    "/v1/logs": ("logs", logs_service_pb2.ExportLogsServiceRequest, _LOGS_RESPONSE),
}


class _Servicer:
    """The Export method of TraceService, MetricsService or LogsService."""

    def __init__(self, receiver: OtlpReceiver, signal: str, response: type[Message]) -> None:
        self.receiver, self.signal, self.response = receiver, signal, response

    def Export(self, request: Message, context: grpc.ServicerContext) -> Message:
        info = RequestInfo(self.signal, "grpc", "", "", True)
        refusal = self.receiver._admit()
        if refusal is not None:
            self.receiver._refused(RequestInfo(self.signal, "grpc", "", "", False))
            context.abort(_GRPC_CODES.get(refusal[0], grpc.StatusCode.UNKNOWN), "receiver told to fail")
        self.receiver._store(info, request)
        return self.response()


def _http_handler(receiver: OtlpReceiver) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
            route = _HTTP_ROUTES.get(self.path.split("?", 1)[0])
            if route is None:
                self._reply(404, b"unknown path", "text/plain")
                return
            signal, request_type, response_type = route
            content_type = (self.headers.get("Content-Type") or "").split(";", 1)[0].strip().lower()
            encoding = (self.headers.get("Content-Encoding") or "").strip().lower()
            refusal = receiver._admit()
            if refusal is not None:
                receiver._refused(RequestInfo(signal, "http", content_type, encoding, False))
                status, retry_after = refusal
                extra = {"Retry-After": str(retry_after)} if retry_after is not None else {}
                self._reply(status, b"receiver told to fail", "text/plain", extra)
                return
            try:
                request = self._decode(body, content_type, encoding, request_type())
            except ValueError as exc:
                receiver._refused(RequestInfo(signal, "http", content_type, encoding, False))
                self._reply(400, str(exc).encode(), "text/plain")
                return
            receiver._store(RequestInfo(signal, "http", content_type, encoding, True), request)
            if content_type == JSON:
                self._reply(200, otlp_json.dump(response_type()), JSON)
            else:
                self._reply(200, response_type().SerializeToString(), PROTOBUF)

        @staticmethod
        def _decode(body: bytes, content_type: str, encoding: str, request: Message) -> Message:
            """The request message, or ValueError saying what is wrong (answered with 400)."""
            if encoding == "gzip":
                try:
                    body = gzip.decompress(body)
                except (OSError, EOFError) as exc:
                    raise ValueError(f"bad gzip body: {exc}") from exc
            elif encoding not in ("", "identity"):
                raise ValueError(f"unsupported Content-Encoding {encoding!r}")
            if content_type == JSON:
                return otlp_json.parse(body, request)
            if content_type != PROTOBUF:
                raise ValueError(f"unsupported Content-Type {content_type!r}")
            try:
                request.ParseFromString(body)
            except DecodeError as exc:
                raise ValueError(f"undecodable protobuf: {exc}") from exc
            return request

        def _reply(
            self, status: int, payload: bytes, content_type: str, headers: dict[str, str] | None = None
        ) -> None:
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(payload)))
            for name, value in (headers or {}).items():
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(payload)

        def log_message(self, format: str, *args: Any) -> None:
            return

    return Handler
