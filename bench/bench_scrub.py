"""Cost of the in-process secret scrubbing (otelbundle.scrub), measured in one run.

1. The scrubbing step alone, per span and per log record, for a realistic mix
   (HTTP server spans with old and new semconv attributes; 1 in 10 with a
   credential in its query string, 1 in 20 failing with an exception event;
   log records, 1 in 10 with a secret, 1 in 20 with a stack trace): microseconds
   per item, and the same for items with nothing to scrub.
2. The whole export path: SDK + BatchSpanProcessor / BatchLogRecordProcessor with
   a discarding exporter, with and without the scrubbing wrapper; CPU time of all
   threads per item (the scrubbing runs on the export thread, not the app's),
   ratio scrubbed / unscrubbed, median of interleaved rounds. For spans also the
   wrapper around a scrubber that changes nothing and looks at nothing: what
   reading each span and handing it on costs, apart from the rules. And the
   path with the OTLP encoder in place of the discarding exporter (what an
   exporter does before the network), the SDK alone against the distro's step:
   scrubbing in a copy that also carries the resource hashed once
   (otelbundle.sdk.export.resource_once), which saves the encoder more than the
   copy costs.
3. What turning scrubbing off saves in the distro (``OTELBUNDLE_SCRUB=false``):
   its export step with scrubbing (scrubbed copies that also carry the
   resource hashed once) against its step without (``HashOnceSpans``: the
   copies carrying the hashed resource only), with the discarding exporter and
   with the OTLP encoder.

    python bench/bench_scrub.py [--items 20000] [--rounds 30]
"""

from __future__ import annotations

import argparse
import gc
import logging
import statistics
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path

from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans
from opentelemetry.sdk._logs import LoggerProvider, LoggingHandler, ReadableLogRecord
from opentelemetry.sdk._logs.export import BatchLogRecordProcessor, LogRecordExporter, LogRecordExportResult
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExporter, SpanExportResult
from opentelemetry.trace import SpanKind, StatusCode

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from otelbundle.scrub import Scrubber, log_step, span_step  # noqa: E402
from otelbundle.sdk.export.resource_once import HashOnceSpans  # noqa: E402
from otelbundle.sdk.export.wrapper import LOGS, SPANS, ExportWrapper, log_exporter, span_exporter  # noqa: E402

RESOURCE = Resource.create(
    {"service.name": "shop", "process.command_line": "python app.py --port 8080", "host.name": "web-1"}
)


class DiscardSpans(SpanExporter):
    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        return SpanExportResult.SUCCESS


class EncodeSpans(SpanExporter):
    """What an OTLP exporter does before the network: encode and serialise the batch."""

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        encode_spans(spans).SerializePartialToString()
        return SpanExportResult.SUCCESS


class DiscardLogs(LogRecordExporter):
    def export(self, batch: Sequence[ReadableLogRecord]) -> LogRecordExportResult:
        return LogRecordExportResult.SUCCESS

    def shutdown(self) -> None:
        pass

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        return True


def emit_spans(provider: TracerProvider, count: int, secret_every: int = 10) -> None:
    tracer = provider.get_tracer("bench")
    for i in range(count):
        query = f"?api_key=k{i}&page=2" if secret_every and i % secret_every == 0 else "?page=2&sort=name"
        url = f"http://shop.internal:8080/stock/{i % 100}{query}"
        with tracer.start_as_current_span(
            "GET /stock/<int:item>",
            kind=SpanKind.SERVER,
            attributes={
                "http.method": "GET",
                "http.request.method": "GET",
                "http.url": url,
                "url.full": url,
                "http.target": url[26:],
                "url.query": query[1:],
                "http.route": "/stock/<int:item>",
                "http.scheme": "http",
                "server.address": "shop.internal",
                "server.port": 8080,
                "user_agent.original": "python-requests/2.32.3",
                "http.status_code": 200,
                "http.response.status_code": 200,
            },
        ) as span:
            if i % 20 == 0:
                span.add_event(
                    "exception",
                    {
                        "exception.type": "HTTPError",
                        "exception.message": f"502 Server Error for url: {url}",
                        "exception.stacktrace": "Traceback (most recent call last):\n"
                        + '  File "app.py", line 10, in stock\n    fetch()\n' * 8,
                    },
                )
                span.set_status(StatusCode.ERROR, f"HTTPError: 502 Server Error for url: {url}")


def emit_logs(logger: logging.Logger, count: int, secret_every: int = 10) -> None:
    for i in range(count):
        if i % 20 == 0:
            try:
                raise ValueError(f"upstream refused http://inventory/reserve?token=t{i}")
            except ValueError:
                logger.exception("reserve failed for order %d", i)
        elif secret_every and i % secret_every == 0:
            logger.warning("connected with password=%s", f"pw{i}")
        else:
            logger.info("served GET /stock/%d in %d ms", i % 100, i % 7)


class PassThrough(Scrubber):
    """Looks at nothing, changes nothing: the wrapper's own cost (bench only)."""

    def text(self, value: str, where: str = "") -> str:
        return value

    def sql_name(self, name: str, attributes: object) -> str:
        return name

    def attributes(self, attributes: object) -> None:
        return None


# How the span processor batches: exports from its thread as spans come (the default), or with
# --export-on-flush only in the flush at the end of each side, on the thread that flushes (no
# export thread running beside the spans being made: rules out contention for the GIL).
SPAN_BATCHING: dict[str, int] = {"schedule_delay_millis": 50}


def span_provider(
    scrubber: Scrubber | None,
    inner: SpanExporter | None = None,
    hash_resources: bool = False,
    hash_only: bool = False,
) -> TracerProvider:
    """The SDK's span path; with ``scrubber`` the scrubbing step in an export wrapper; with
    ``hash_only`` (and no scrubber) the distro's step when scrubbing is off."""
    provider = TracerProvider(resource=RESOURCE)
    exporter: SpanExporter = inner if inner is not None else DiscardSpans()
    if scrubber is not None:
        step = span_step(scrubber, hash_resources=hash_resources)
        exporter = span_exporter(ExportWrapper(SPANS, exporter, prepare=step))
    elif hash_only:
        exporter = span_exporter(ExportWrapper(SPANS, exporter, prepare=HashOnceSpans()))
    provider.add_span_processor(BatchSpanProcessor(exporter, max_queue_size=100_000, **SPAN_BATCHING))
    return provider


def log_setup(name: str, scrubber: Scrubber | None) -> tuple[LoggerProvider, logging.Logger]:
    provider = LoggerProvider(resource=RESOURCE)
    exporter: LogRecordExporter = DiscardLogs()
    if scrubber is not None:
        exporter = log_exporter(ExportWrapper(LOGS, exporter, prepare=log_step(scrubber)))
    provider.add_log_record_processor(
        BatchLogRecordProcessor(exporter, max_queue_size=100_000, schedule_delay_millis=50)
    )
    logger = logging.getLogger(name)
    logger.propagate = False
    logger.setLevel(logging.INFO)
    logger.addHandler(LoggingHandler(logger_provider=provider))
    return provider, logger


def cpu_per_item(run: Callable[[int], None], flush: Callable[[], object], count: int) -> float:
    """CPU microseconds of all threads per item, export included (flushed before the clock stops).

    Every side starts from a collected heap, as in bench_alerting.py: the collections in
    the timed part are the ones its own allocations trigger, not a full collection the
    side before left due (without it single rounds measured 2.7-4x, on either side).
    """
    gc.collect()
    started = time.process_time()
    run(count)
    flush()
    return (time.process_time() - started) * 1e6 / count


def step_alone(items: int) -> None:
    """Scrubbing only: what the wrapper adds to each export call, per item."""
    scrubber = Scrubber()
    collected_spans: list[ReadableSpan] = []

    class Keep(SpanExporter):
        def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
            collected_spans.extend(spans)
            return SpanExportResult.SUCCESS

    for label, every in (("mix", 10), ("clean", 0)):
        collected_spans.clear()
        provider = TracerProvider(resource=RESOURCE)
        provider.add_span_processor(BatchSpanProcessor(Keep(), max_queue_size=100_000))
        if label == "clean":
            # no secret, no exception: only the search that finds nothing
            tracer = provider.get_tracer("bench")
            for i in range(items):
                with tracer.start_as_current_span(
                    "GET /stock/<int:item>",
                    attributes={
                        "http.method": "GET",
                        "url.full": f"http://shop/stock/{i}?page=2",
                        "http.route": "/stock/<int:item>",
                        "http.status_code": 200,
                        "user_agent.original": "python-requests/2.32.3",
                    },
                ):
                    pass
        else:
            emit_spans(provider, items, every)
        provider.force_flush()
        wrapper = span_exporter(ExportWrapper(SPANS, DiscardSpans(), prepare=span_step(scrubber)))
        started = time.perf_counter()
        for start in range(0, len(collected_spans), 512):
            wrapper.export(collected_spans[start : start + 512])
        per_item = (time.perf_counter() - started) * 1e6 / len(collected_spans)
        print(f"  scrubbing step, spans ({label}): {per_item:.1f} us/span")
        provider.shutdown()

    collected_logs: list[ReadableLogRecord] = []

    class KeepLogs(DiscardLogs):
        def export(self, batch: Sequence[ReadableLogRecord]) -> LogRecordExportResult:
            collected_logs.extend(batch)
            return LogRecordExportResult.SUCCESS

    for label, every in (("mix", 10), ("clean", 0)):
        collected_logs.clear()
        provider = LoggerProvider(resource=RESOURCE)
        provider.add_log_record_processor(BatchLogRecordProcessor(KeepLogs(), max_queue_size=100_000))
        logger = logging.getLogger(f"bench.step.{label}")
        logger.propagate = False
        logger.setLevel(logging.INFO)
        logger.addHandler(LoggingHandler(logger_provider=provider))
        if label == "clean":
            for i in range(items):
                logger.info("served GET /stock/%d in %d ms", i % 100, i % 7)
        else:
            emit_logs(logger, items, every)
        provider.force_flush()
        wrapper_logs = log_exporter(ExportWrapper(LOGS, DiscardLogs(), prepare=log_step(scrubber)))
        started = time.perf_counter()
        for start in range(0, len(collected_logs), 512):
            wrapper_logs.export(collected_logs[start : start + 512])
        per_item = (time.perf_counter() - started) * 1e6 / len(collected_logs)
        print(f"  scrubbing step, log records ({label}): {per_item:.1f} us/record")
        provider.shutdown()


def whole_path(items: int, rounds: int) -> None:
    plain_spans, scrubbed_spans = span_provider(None), span_provider(Scrubber())
    wrapped_spans = span_provider(PassThrough())
    (plain_logs, plain_logger), (scrubbed_logs, scrubbed_logger) = (
        log_setup("bench.plain", None),
        log_setup("bench.scrubbed", Scrubber()),
    )
    encoded_spans = span_provider(None, EncodeSpans())
    distro_spans = span_provider(Scrubber(), EncodeSpans(), hash_resources=True)
    # the distro's own step with scrubbing on and off (OTELBUNDLE_SCRUB=false), without and with the encoder
    product_on, product_off = (
        span_provider(Scrubber(), hash_resources=True),
        span_provider(None, hash_only=True),
    )
    encoded_off = span_provider(None, EncodeSpans(), hash_only=True)
    providers = (
        plain_spans,
        scrubbed_spans,
        wrapped_spans,
        encoded_spans,
        distro_spans,
        product_on,
        product_off,
        encoded_off,
    )
    chunk = max(500, items // rounds)
    for provider in providers:  # warm-up
        cpu_per_item(lambda n, p=provider: emit_spans(p, n), provider.force_flush, 1000)
    for log_provider, logger in ((plain_logs, plain_logger), (scrubbed_logs, scrubbed_logger)):  # both sides
        cpu_per_item(lambda n, lg=logger: emit_logs(lg, n), log_provider.force_flush, 1000)
    span_plain, span_ratio, wrapper_ratio, log_plain, log_ratio = [], [], [], [], []
    encoded_plain, encoded_ratio = [], []
    on_off, on_off_encoded = [], []
    for _ in range(rounds):
        a = cpu_per_item(lambda n: emit_spans(plain_spans, n), plain_spans.force_flush, chunk)
        b = cpu_per_item(lambda n: emit_spans(scrubbed_spans, n), scrubbed_spans.force_flush, chunk)
        w = cpu_per_item(lambda n: emit_spans(wrapped_spans, n), wrapped_spans.force_flush, chunk)
        e = cpu_per_item(lambda n: emit_spans(encoded_spans, n), encoded_spans.force_flush, chunk)
        d = cpu_per_item(lambda n: emit_spans(distro_spans, n), distro_spans.force_flush, chunk)
        span_plain.append(a)
        span_ratio.append(b / a)
        wrapper_ratio.append(w / a)
        encoded_plain.append(e)
        encoded_ratio.append(d / e)
        on = cpu_per_item(lambda n: emit_spans(product_on, n), product_on.force_flush, chunk)
        off = cpu_per_item(lambda n: emit_spans(product_off, n), product_off.force_flush, chunk)
        on_off.append(on / off)
        off = cpu_per_item(lambda n: emit_spans(encoded_off, n), encoded_off.force_flush, chunk)
        on_off_encoded.append(d / off)
        c = cpu_per_item(lambda n: emit_logs(plain_logger, n), plain_logs.force_flush, chunk)
        d = cpu_per_item(lambda n: emit_logs(scrubbed_logger, n), scrubbed_logs.force_flush, chunk)
        log_plain.append(c)
        log_ratio.append(d / c)
    print(f"whole export path ({rounds} interleaved rounds x {chunk} items, CPU time of all threads):")
    print(
        f"  spans: unscrubbed {statistics.median(span_plain):.1f} us/span; scrubbed / unscrubbed median "
        f"{statistics.median(span_ratio):.3f} (quartiles {quartiles(span_ratio)})"
    )
    print(
        f"  spans: the wrapper around a scrubber that looks at nothing / unscrubbed median "
        f"{statistics.median(wrapper_ratio):.3f} (quartiles {quartiles(wrapper_ratio)})"
    )
    print(
        f"  log records: unscrubbed {statistics.median(log_plain):.1f} us/record; scrubbed / unscrubbed median "
        f"{statistics.median(log_ratio):.3f} (quartiles {quartiles(log_ratio)})"
    )
    print(
        f"  spans, with the OTLP encoder (no network): SDK alone {statistics.median(encoded_plain):.1f} us/span; "
        f"the distro's step (scrubbing, resource hashed once) / SDK alone median "
        f"{statistics.median(encoded_ratio):.3f} (quartiles {quartiles(encoded_ratio)})"
    )
    print(
        "  spans, the distro's export step, scrubbing on / off (OTELBUNDLE_SCRUB=false: resource hashed once only): "
        f"discarding exporter median {statistics.median(on_off):.3f} (quartiles {quartiles(on_off)}); "
        f"with the OTLP encoder median {statistics.median(on_off_encoded):.3f} (quartiles {quartiles(on_off_encoded)})"
    )
    for provider in providers:
        provider.shutdown()
    for log_provider in (plain_logs, scrubbed_logs):
        log_provider.shutdown()


def quartiles(values: list[float]) -> str:
    q1, _, q3 = statistics.quantiles(sorted(values), n=4)
    return f"{q1:.3f}-{q3:.3f}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--items", type=int, default=20_000, help="spans and log records per measurement")
    parser.add_argument("--rounds", type=int, default=30)
    parser.add_argument(
        "--export-on-flush",
        action="store_true",
        help="spans are exported only by the flush that ends each side, on the flushing thread",
    )
    args = parser.parse_args()
    print(f"python {sys.version.split()[0]}; {args.items} items per measurement")
    step_alone(args.items)
    if args.export_on_flush:
        SPAN_BATCHING.update(schedule_delay_millis=10**9, max_export_batch_size=100_000)
        print("spans exported only by the flush at the end of each side, on the flushing thread")
    whole_path(args.items, args.rounds)


if __name__ == "__main__":
    main()
