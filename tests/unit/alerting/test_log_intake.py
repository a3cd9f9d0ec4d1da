"""The log intake: records in on any thread, a bounded counted queue, consumers on the manager's thread;
the per-trace ring of log lines it feeds; installed by the configurator only when alerting is on."""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator, Sequence
from pathlib import Path

import pytest
from opentelemetry.instrumentation.logging.handler import LoggingHandler
from opentelemetry.sdk._logs import LoggerProvider
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.trace import TracerProvider

from otelbundle.alerting.log_intake import DRAIN_AT, LogIntake, LogRecordItem
from otelbundle.alerting.manager import start_alerting
from otelbundle.alerting.section import load_alerting_config
from otelbundle.alerting.trace_logs import LINES_PER_TRACE, MAX_TEXT, TraceLogs
from otelbundle.config import document
from otelbundle.distro.configurator import build_components


class Collect:
    def __init__(self) -> None:
        self.batches: list[list[LogRecordItem]] = []

    def take(self, records: Sequence[LogRecordItem], now: float) -> None:
        self.batches.append(list(records))


class Broken:
    def take(self, records: Sequence[LogRecordItem], now: float) -> None:
        raise RuntimeError("consumer bug")


@pytest.fixture
def logged() -> Iterator[tuple[logging.Logger, LogIntake, TracerProvider]]:
    """A logger whose records go through a real LoggerProvider into an intake, and a tracer."""
    intake = LogIntake(queue_size=16)
    provider = LoggerProvider()
    provider.add_log_record_processor(intake)
    handler = LoggingHandler(logger_provider=provider)
    logger = logging.getLogger("shop.checkout")
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    logger.propagate = False
    yield logger, intake, TracerProvider()
    logger.removeHandler(handler)
    logger.propagate = True


def test_records_reach_every_consumer_in_order_on_drain(
    logged: tuple[logging.Logger, LogIntake, TracerProvider],
) -> None:
    logger, intake, _ = logged
    first, second = Collect(), Collect()
    intake.add_consumer(first)
    intake.add_consumer(second)
    for i in range(3):
        logger.info("line %d", i)
    assert first.batches == [] and intake.queued == 3  # nothing happens until the manager drains
    assert intake.drain(1.0) == 3
    assert [r.log_record.body for r in first.batches[0]] == ["line 0", "line 1", "line 2"]
    assert second.batches == first.batches
    assert intake.records_seen == 3 and intake.records_dropped == 0


def test_records_still_upstream_are_emitted_first_and_drained_with_the_rest(
    logged: tuple[logging.Logger, LogIntake, TracerProvider],
) -> None:
    # Under the distro a request's lines wait in the log translator's queue when its span ends:
    # the drain that folds the span must see them.
    logger, intake, _ = logged
    collected = Collect()
    intake.add_consumer(collected)
    waiting = ["payment failed", "order 42 rolled back"]

    def upstream() -> None:
        while waiting:
            logger.info(waiting.pop(0))

    intake.upstream = upstream
    logger.info("already in")
    assert intake.drain(1.0) == 3
    assert [r.log_record.body for r in collected.batches[0]] == [
        "already in",
        "payment failed",
        "order 42 rolled back",
    ]


def test_a_failing_upstream_is_counted_and_the_drain_goes_on(
    logged: tuple[logging.Logger, LogIntake, TracerProvider],
) -> None:
    logger, intake, _ = logged
    collected = Collect()
    intake.add_consumer(collected)

    def upstream() -> None:
        raise RuntimeError("translator bug")

    intake.upstream = upstream
    logger.info("line")
    assert intake.drain(1.0) == 1 and intake.errors == 1


def test_a_full_queue_drops_its_oldest_record_and_counts_it(
    logged: tuple[logging.Logger, LogIntake, TracerProvider],
) -> None:
    logger, intake, _ = logged
    collect = Collect()
    intake.add_consumer(collect)
    for i in range(20):
        logger.info("line %d", i)
    assert intake.records_dropped == 4
    intake.drain(1.0)
    assert [r.log_record.body for r in collect.batches[0]] == [f"line {i}" for i in range(4, 20)]
    assert intake.records_seen == 20


def test_wakeup_only_when_a_record_lands_in_an_empty_queue(
    logged: tuple[logging.Logger, LogIntake, TracerProvider],
) -> None:
    logger, intake, _ = logged
    woken: list[int] = []
    intake.wakeup = lambda: woken.append(intake.queued)
    for _ in range(5):
        logger.info("burst")
    assert woken == [1]
    intake.drain(1.0)
    logger.info("after the drain")
    assert woken == [1, 1]


def test_a_failing_consumer_is_counted_and_the_others_still_get_the_batch(
    logged: tuple[logging.Logger, LogIntake, TracerProvider],
) -> None:
    logger, intake, _ = logged
    collect = Collect()
    intake.add_consumer(Broken())
    intake.add_consumer(collect)
    logger.warning("x")
    intake.drain(1.0)
    assert intake.errors == 1 and len(collect.batches) == 1


def test_on_emit_never_raises_into_the_logging_call(
    logged: tuple[logging.Logger, LogIntake, TracerProvider], monkeypatch: pytest.MonkeyPatch
) -> None:
    logger, intake, _ = logged
    monkeypatch.setattr(intake, "_queue", None)  # any failure inside on_emit
    logger.error("still fine")
    assert intake.errors == 1


def test_on_emit_from_another_thread_is_taken_the_same(
    logged: tuple[logging.Logger, LogIntake, TracerProvider],
) -> None:
    """An export thread may call on_emit later (a deferred handler): the record carries what counts."""
    logger, intake, tracer_provider = logged
    ring = TraceLogs()
    intake.add_consumer(ring)
    tracer = tracer_provider.get_tracer("t")
    captured: list[LogRecordItem] = []
    spy = Collect()
    intake.add_consumer(spy)
    with tracer.start_as_current_span("POST /checkout") as span:
        logger.info("inside the request")
        trace_id = span.get_span_context().trace_id
    intake.drain(1.0)
    captured.extend(spy.batches[0])
    replay = LogIntake()
    replay.add_consumer(ring)
    thread = threading.Thread(target=lambda: replay.on_emit(captured[0]))  # type: ignore[arg-type]
    thread.start()
    thread.join()
    replay.drain(2.0)
    lines = ring.lines(trace_id)
    assert lines is not None and [line.body for line in lines] == ["inside the request"] * 2


def test_the_ring_keeps_a_traces_lines_with_the_exception_of_logger_exception(
    logged: tuple[logging.Logger, LogIntake, TracerProvider],
) -> None:
    logger, intake, tracer_provider = logged
    ring = TraceLogs()
    intake.add_consumer(ring)
    tracer = tracer_provider.get_tracer("t")
    with tracer.start_as_current_span("POST /checkout") as span:
        logger.info("checkout of 2 x APPLE")
        try:
            raise ValueError("card declined for order 42")
        except ValueError:
            logger.exception("payment failed")
        context = span.get_span_context()
    logger.info("outside any trace")
    intake.drain(1.0)
    lines = ring.lines(context.trace_id)
    assert lines is not None
    assert [(line.severity, line.body) for line in lines] == [
        ("INFO", "checkout of 2 x APPLE"),
        ("ERROR", "payment failed"),
    ]
    failed = lines[1]
    assert (failed.exception_type, failed.exception_message) == ("ValueError", "card declined for order 42")
    assert failed.span_id == context.span_id and failed.logger == "shop.checkout"
    assert len(ring) == 1  # the record outside a trace is not kept


def test_the_ring_leaves_out_otelbundles_own_records() -> None:
    intake = LogIntake()
    ring = TraceLogs()
    intake.add_consumer(ring)
    provider = LoggerProvider()
    provider.add_log_record_processor(intake)
    handler = LoggingHandler(logger_provider=provider)
    own = logging.getLogger("otelbundle.alerting")
    own.addHandler(handler)
    tracer = TracerProvider().get_tracer("t")
    try:
        with tracer.start_as_current_span("x") as span:
            own.warning("alert A firing")
            trace_id = span.get_span_context().trace_id
    finally:
        own.removeHandler(handler)
    intake.drain(1.0)
    assert intake.records_taken == 1 and ring.lines(trace_id) is None


def test_the_ring_is_bounded_in_traces_lines_and_text(
    logged: tuple[logging.Logger, LogIntake, TracerProvider],
) -> None:
    logger, intake, tracer_provider = logged
    intake.resize(1000)
    ring = TraceLogs(max_traces=3)
    intake.add_consumer(ring)
    tracer = tracer_provider.get_tracer("t")
    trace_ids = []
    for t in range(5):
        with tracer.start_as_current_span(f"request {t}") as span:
            for i in range(LINES_PER_TRACE + 2):
                logger.info("line %d %s", i, "x" * (MAX_TEXT + 10) if i == 0 else "")
            trace_ids.append(span.get_span_context().trace_id)
    intake.drain(1.0)
    assert len(ring) == 3 and ring.traces_evicted == 2
    assert ring.lines(trace_ids[0]) is None
    lines = ring.lines(trace_ids[-1])
    assert lines is not None and len(lines) == LINES_PER_TRACE
    assert lines[0].body.startswith("line 2")  # the oldest two went
    assert all(len(line.body) <= MAX_TEXT for line in lines)


def test_the_configurator_installs_the_intake_only_with_alerting(tmp_path: Path) -> None:
    (tmp_path / "rules.yaml").write_text(
        "groups:\n  - name: g\n    rules:\n      - {alert: Errors, expr: error_count > 0}\n"
    )
    with_rules = tmp_path / "with.yaml"
    with_rules.write_text("alerting:\n  rule_files: [rules.yaml]\n")
    without = tmp_path / "without.yaml"
    without.write_text("scrub:\n  extra_patterns: []\n")
    found = {}
    for name, path in (("with", with_rules), ("without", without)):
        document.forget_started_with()
        components = build_components({"OTELBUNDLE_CONFIG": str(path)})
        try:
            found[name] = [type(p).__name__ for p in components.kwargs["log_record_processors"]]
        finally:
            for stop in components.runtime.stoppers:
                stop()
            document.forget_started_with()
    # The translator's flush first (a flush drains what callers queued), the intake after the stripper.
    assert found["with"] == ["DeferredLogsProcessor", "CorrelationFieldStripper", "LogIntake"]
    assert found["without"] == ["DeferredLogsProcessor", "CorrelationFieldStripper"]


def test_the_intakes_counts_are_metrics(tmp_path: Path) -> None:
    (tmp_path / "rules.yaml").write_text(
        "groups:\n  - name: g\n    rules:\n      - {alert: Errors, expr: error_count > 0}\n"
    )
    (tmp_path / "otelbundle.yaml").write_text("alerting:\n  rule_files: [rules.yaml]\n")
    config = load_alerting_config(str(tmp_path / "otelbundle.yaml"), {})
    assert config is not None
    reader = InMemoryMetricReader()
    manager = start_alerting(config, {}, meter_provider=MeterProvider(metric_readers=[reader]))
    try:
        manager.stop()  # no drain by the manager's thread in between: the counts are exact
        intake = manager.engine.log_intake
        assert manager.log_record_processors == [intake]
        intake.resize(2)
        provider = LoggerProvider()
        provider.add_log_record_processor(intake)
        for i in range(5):
            provider.get_logger("shop").emit(body=f"record {i}")
        values = {
            metric.name: metric.data.data_points[0].value
            for resource in reader.get_metrics_data().resource_metrics
            for scope in resource.scope_metrics
            for metric in scope.metrics
            if metric.name.startswith("otelbundle.alerting.logs.")
        }
    finally:
        manager.shutdown()
    assert values == {
        "otelbundle.alerting.logs.seen": 5,
        "otelbundle.alerting.logs.dropped": 3,
        "otelbundle.alerting.logs.failed": 0,
    }


def test_the_manager_is_asked_once_to_drain_when_records_pile_up(
    logged: tuple[logging.Logger, LogIntake, TracerProvider],
) -> None:
    """Records are not held long after the application is done with them (they would age into
    older GC generations): DRAIN_AT queued records ask for a drain, once until it happens."""
    logger, intake, _ = logged
    intake.resize(1000)
    asked: list[int] = []
    intake.drain_soon = lambda: asked.append(intake.queued)
    for i in range(DRAIN_AT + 10):
        logger.info("line %d", i)
    assert asked == [DRAIN_AT + 1]
    intake.drain(1.0)
    for i in range(DRAIN_AT + 1):
        logger.info("again %d", i)
    assert asked == [DRAIN_AT + 1, DRAIN_AT + 1]
