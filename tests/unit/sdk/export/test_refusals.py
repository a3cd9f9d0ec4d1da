"""A batch refused for its size goes again in parts: the oversized item is lost alone, counted
and named; the ordinary items beside it are delivered. Real OTLP/HTTP exporters and our session,
with a transport adapter standing in for a collector with a request size limit."""

from __future__ import annotations

import gzip
import zlib
from typing import Any

import pytest
import requests
from opentelemetry.exporter.otlp.proto.http._log_exporter import OTLPLogExporter
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.proto.collector.logs.v1 import logs_service_pb2
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2
from opentelemetry.sdk._logs import LoggerProvider, LogRecordProcessor
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider

from otelbundle.sdk.export import refusals
from otelbundle.sdk.export.http_session import ForkAwareSession
from otelbundle.sdk.export.report import DropReport
from otelbundle.sdk.export.wrapper import LOGS, SPANS, ExportWrapper

LIMIT = 2_000_000  # the stand-in collector's request size limit


class _SizeLimitedCollector(requests.adapters.BaseAdapter):
    """Answers a body over ``limit`` bytes with ``status`` (the collector says 400), else 200;
    keeps the names (spans) or bodies (logs) it accepted, and the size of every request."""

    def __init__(self, limit: int = LIMIT, status: int = 400) -> None:
        super().__init__()
        self.limit, self.status = limit, status
        self.accepted: list[str] = []
        self.bodies: list[int] = []

    def send(self, request: requests.PreparedRequest, *args: object, **kwargs: object) -> requests.Response:
        body = request.body if isinstance(request.body, bytes) else b""
        # As the collector does: the limit applies to the body inflated.
        encoding = request.headers.get("Content-Encoding")
        body = gzip.decompress(body) if encoding == "gzip" else zlib.decompress(body) if encoding else body
        self.bodies.append(len(body))
        response = requests.Response()
        response.request, response.url = request, str(request.url)
        if len(body) > self.limit:
            response.status_code, response._content = self.status, b"request body too large"
            return response
        if str(request.url).endswith("/v1/traces"):
            traces = trace_service_pb2.ExportTraceServiceRequest.FromString(body)
            self.accepted += [s.name for r in traces.resource_spans for ss in r.scope_spans for s in ss.spans]
        else:
            logs = logs_service_pb2.ExportLogsServiceRequest.FromString(body)
            self.accepted += [
                lr.body.string_value
                for r in logs.resource_logs
                for sl in r.scope_logs
                for lr in sl.log_records
            ]
        response.status_code, response._content = 200, b""
        return response


def _spans(count: int, big_at: int | None, big: int = 3_000_000) -> list[ReadableSpan]:
    ended: list[ReadableSpan] = []
    tracer = TracerProvider().get_tracer("t")
    for i in range(count):
        span = tracer.start_span(f"s{i}")
        if i == big_at:
            span.set_attribute("body", "x" * big)
        span.end()
        assert isinstance(span, ReadableSpan)
        ended.append(span)
    return ended


def _wrapped_span_exporter(
    collector: _SizeLimitedCollector, report: DropReport, **exporter_args: Any
) -> ExportWrapper[Any, Any]:
    session = ForkAwareSession("spans")
    session.mount("http://", collector)
    exporter = OTLPSpanExporter(endpoint="http://collector:4318/v1/traces", session=session, **exporter_args)
    return ExportWrapper(SPANS, exporter, report=report)


def test_an_oversized_span_is_lost_alone_and_named() -> None:
    said: list[str] = []
    report = DropReport(endpoint="http://collector:4318", emit=said.append)
    collector = _SizeLimitedCollector()
    wrapper = _wrapped_span_exporter(collector, report)
    wrapper.export(_spans(40, big_at=20))
    assert sorted(collector.accepted) == sorted(f"s{i}" for i in range(40) if i != 20)
    counts = report.counts["spans"]
    assert (counts.exported, counts.dropped) == (39, 1)
    assert said[0] == (
        "otelbundle: could not export 1 spans to http://collector:4318: the collector refused a span of "
        "3.0 MB as too large (HTTP 400); what was sent with it went again in smaller requests. Further "
        "export errors are counted, not logged; a summary is printed at exit."
    )
    # The parts are cut by the items' encoded sizes: the big span is sent alone once more, the
    # others in as few requests as fit (not a halving that re-sends 3 MB at every level).
    assert sum(1 for size in collector.bodies if size > LIMIT) == 2


@pytest.mark.parametrize("compression", ["gzip", "deflate"])
def test_a_compressed_batch_is_measured_inflated_as_the_collector_measures_it(compression: str) -> None:
    """3 MB of repeated text compresses to kilobytes: the refused body was small, so the batch
    counted as malformed and all 40 spans were lost."""
    from opentelemetry.exporter.otlp.proto.http import Compression

    said: list[str] = []
    report = DropReport(endpoint="http://collector:4318", emit=said.append)
    collector = _SizeLimitedCollector()
    wrapper = _wrapped_span_exporter(collector, report, compression=Compression(compression))
    wrapper.export(_spans(40, big_at=20))
    assert sorted(collector.accepted) == sorted(f"s{i}" for i in range(40) if i != 20)
    assert "the collector refused a span of 3.0 MB as too large (HTTP 400)" in said[0]


def test_a_413_from_a_proxy_splits_a_batch_of_any_size() -> None:
    report = DropReport(endpoint="http://collector:4318", emit=lambda _: None)
    collector = _SizeLimitedCollector(limit=2_000, status=413)  # e.g. a proxy's small body limit
    wrapper = _wrapped_span_exporter(collector, report)
    wrapper.export(_spans(60, big_at=None))
    assert len(collector.accepted) == 60
    assert report.counts["spans"].dropped == 0 and report.counts["spans"].exported == 60


def test_a_small_batch_refused_with_400_is_not_sent_again() -> None:
    """A 400 to a body under a megabyte is a malformed request, not a size: one request, counted."""
    report = DropReport(endpoint="http://collector:4318", emit=lambda _: None)
    collector = _SizeLimitedCollector(limit=100)
    wrapper = _wrapped_span_exporter(collector, report)
    wrapper.export(_spans(10, big_at=None))
    assert len(collector.bodies) == 1
    assert report.counts["spans"].dropped == 10


def test_an_oversized_log_record_is_lost_alone() -> None:
    report = DropReport(endpoint="http://collector:4318", emit=lambda _: None)
    collector = _SizeLimitedCollector()
    session = ForkAwareSession("logs")
    session.mount("http://", collector)
    exporter = OTLPLogExporter(endpoint="http://collector:4318/v1/logs", session=session)
    wrapper: ExportWrapper[Any, Any] = ExportWrapper(LOGS, exporter, report=report)

    class Collect(LogRecordProcessor):
        def __init__(self) -> None:
            self.records: list[object] = []

        def on_emit(self, log_record: object) -> None:  # type: ignore[override]
            self.records.append(log_record)

        def shutdown(self) -> None: ...

        def force_flush(self, timeout_millis: int = 30000) -> bool:
            return True

    provider = LoggerProvider()
    collect = Collect()
    provider.add_log_record_processor(collect)
    logger = provider.get_logger("t")
    for i in range(30):
        logger.emit(body=f"line {i}", attributes={"payload": "y" * 3_000_000} if i == 7 else None)
    wrapper.export(collect.records)  # type: ignore[arg-type]
    assert collector.accepted == [f"line {i}" for i in range(30) if i != 7]
    assert (report.counts["logs"].exported, report.counts["logs"].dropped) == (29, 1)


@pytest.mark.parametrize(
    ("status", "size", "noted"),
    [(413, 10, True), (400, 10, False), (400, refusals.SPLIT_400_FROM, True), (500, 10**8, False)],
)
def test_which_answers_count_as_a_refusal_for_size(status: int, size: int, noted: bool) -> None:
    refusals.forget()
    refusals.note_answer(status, b"x" * size)
    assert (refusals.refused_bytes() is not None) is noted


def test_a_compressed_body_counts_at_its_inflated_size() -> None:
    inflated = b"x" * refusals.SPLIT_400_FROM
    for encoding, body in (("gzip", gzip.compress(inflated)), ("deflate", zlib.compress(inflated))):
        refusals.forget()
        refusals.note_answer(400, body, {"Content-Encoding": encoding})
        assert refusals.refused_bytes() == (400, refusals.SPLIT_400_FROM)
    refusals.forget()
    refusals.note_answer(400, b"not gzip at all", {"content-encoding": "gzip"})
    assert refusals.refused_bytes() is None  # a malformed body: not a size


def test_parts_keep_order_and_put_an_item_over_half_alone() -> None:
    sizes = {"a": 10, "b": 10, "big": 500, "c": 10, "d": 10}
    assert refusals.parts(list(sizes), 100, sizes.__getitem__) == [["a", "b"], ["big"], ["c", "d"]]
    # sizes that say everything fits are wrong about this collector: halved by count
    assert refusals.parts(["a", "b", "c"], 10_000, sizes.__getitem__) == [["a"], ["b", "c"]]
