"""A flush or shutdown of the log translator ends while other threads keep logging: it translates
what was queued when it started, rather than chasing records that keep arriving."""

from __future__ import annotations

import logging
import threading
import time

from opentelemetry.instrumentation.logging.handler import LoggingHandler
from opentelemetry.sdk._logs import LoggerProvider
from opentelemetry.sdk._logs.export import InMemoryLogRecordExporter, SimpleLogRecordProcessor

from otelbundle.sdk.export.report import DropReport
from otelbundle.sdk.logs import correlation
from otelbundle.sdk.logs.deferred import DeferredLogs, DeferredLogsProcessor

# How long the logging threads keep going at most: far above what a flush may take here.
PRODUCE_SECONDS = 8.0


def test_flush_and_shutdown_end_while_threads_keep_logging() -> None:
    report = DropReport(endpoint="test")  # a full queue refuses and counts: the flushes stay short
    deferred = DeferredLogs(report, capacity=2000, interval=60.0)
    provider = LoggerProvider(shutdown_on_exit=False)
    provider.add_log_record_processor(DeferredLogsProcessor(deferred))
    provider.add_log_record_processor(SimpleLogRecordProcessor(InMemoryLogRecordExporter()))
    handler = LoggingHandler(logger_provider=provider)
    correlation.record_filter(handler).defer_to(deferred)
    logger = logging.getLogger("test.deferred.busy")
    logger.propagate = False
    logger.setLevel(logging.INFO)
    logger.handlers[:] = [handler]
    stop = threading.Event()

    def produce() -> None:
        end = time.monotonic() + PRODUCE_SECONDS
        while not stop.is_set() and time.monotonic() < end:
            logger.info("busy")

    producers = [threading.Thread(target=produce, daemon=True) for _ in range(2)]
    try:
        for producer in producers:
            producer.start()
        time.sleep(0.2)
        started = time.monotonic()
        provider.force_flush()
        flushed_in = time.monotonic() - started
        started = time.monotonic()
        provider.shutdown()
        shut_down_in = time.monotonic() - started
        still_running = all(p.is_alive() for p in producers)
    finally:
        stop.set()
        for producer in producers:
            producer.join()
        logger.handlers[:] = []
    assert still_running, "the producers stopped before the flush ended: nothing was tested"
    assert flushed_in < PRODUCE_SECONDS / 2 and shut_down_in < PRODUCE_SECONDS / 2, (flushed_in, shut_down_in)
