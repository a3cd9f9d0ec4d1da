"""The fork-safe periodic reader in real fork children: what the SDK's reader loses, this one keeps.

Each scenario forks at a chosen moment (mid-export, mid-collect) and the child
reports through a pipe what it could do. The SDK's ``PeriodicExportingMetricReader``
runs the same scenarios and is asserted to fail them: that is the bug this
reader exists for (opentelemetry-python #3307, #4345), and these assertions say
when an SDK upgrade fixes it.

Bounds: the readers export every 50 ms; a child gets 10 s (200 intervals) to do
what one interval should do, and is called hung past that.
"""

from __future__ import annotations

import importlib
import json
import logging
import os
import select
import signal
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from typing import Any

import pytest
from opentelemetry.metrics import CallbackOptions, Observation
from opentelemetry.sdk.metrics import Counter, MeterProvider
from opentelemetry.sdk.metrics.export import (
    AggregationTemporality,
    MetricExporter,
    MetricExportResult,
    MetricReader,
    MetricsData,
    NumberDataPoint,
    PeriodicExportingMetricReader,
)

from otelbundle.sdk import metric_reader
from otelbundle.sdk.export.report import DropReport, ExportLogFold, metric_export_logger_names
from otelbundle.sdk.export.wrapper import count_export
from otelbundle.sdk.metric_reader import ForkSafeMetricReader

INTERVAL_MS = 50
CHILD_BOUND_S = 10.0

PARENT = os.getpid()


class ListExporter(MetricExporter):
    """Keeps what it is given. ``block``: export waits on it (a collector that has not answered)."""

    made: list[ListExporter] = []  # noqa: RUF012 - per process: a child's list starts as a copy

    def __init__(self, block: threading.Event | None = None) -> None:
        super().__init__()
        self.pid = os.getpid()
        self.block = block
        self.exporting = threading.Event()
        self.batches: list[MetricsData] = []
        self.shut_down = False
        ListExporter.made.append(self)

    def export(
        self, metrics_data: MetricsData, timeout_millis: float = 10_000, **kwargs: Any
    ) -> MetricExportResult:
        self.exporting.set()
        if self.block is not None and os.getpid() == PARENT:  # only the parent's collector is slow
            self.block.wait()
        self.batches.append(metrics_data)
        return MetricExportResult.SUCCESS

    def force_flush(self, timeout_millis: float = 10_000) -> bool:
        return True

    def shutdown(self, timeout_millis: float = 30_000, **kwargs: Any) -> None:
        self.shut_down = True

    def attribute_values(self, key: str) -> set[str]:
        return {
            str(point.attributes[key])
            for batch in self.batches
            for resource in batch.resource_metrics
            for scope in resource.scope_metrics
            for metric in scope.metrics
            for point in metric.data.data_points
            if point.attributes and key in point.attributes
        }


def exports_made_here() -> list[ListExporter]:
    return [e for e in ListExporter.made if e.pid == os.getpid()]


def run_in_child(
    child: Callable[[], dict[str, Any]], timeout: float = CHILD_BOUND_S + 5
) -> dict[str, Any] | None:
    """Fork; the child runs ``child`` and sends back its JSON report. None: no report in time (hung)."""
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:
        code = 0
        try:
            os.close(read)
            os.write(write, json.dumps(child()).encode())
        except BaseException:
            code = 1
        finally:
            os._exit(code)
    os.close(write)
    try:
        ready, _, _ = select.select([read], [], [], timeout)
        data = os.read(read, 65536) if ready else b""
    finally:
        os.close(read)
    if not data:
        os.kill(pid, signal.SIGKILL)
    os.waitpid(pid, 0)
    return json.loads(data) if data else None


def wait_until(condition: Callable[[], bool], timeout: float = CHILD_BOUND_S) -> bool:
    end = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > end:
            return False
        time.sleep(0.01)
    return True


@pytest.fixture
def providers() -> Iterator[list[MeterProvider]]:
    """Providers made by a test, shut down after it (their readers' threads end)."""
    made: list[MeterProvider] = []
    yield made
    for provider in made:
        provider.shutdown(timeout_millis=5_000)


def start(providers: list[MeterProvider], reader: MetricReader) -> MeterProvider:
    provider = MeterProvider(metric_readers=[reader], shutdown_on_exit=False)
    providers.append(provider)
    return provider


def make_reader(kind: str, factory: Callable[[], MetricExporter], **kwargs: Any) -> MetricReader:
    if kind == "sdk":
        return PeriodicExportingMetricReader(factory(), export_interval_millis=INTERVAL_MS, **kwargs)
    return ForkSafeMetricReader(factory, export_interval_millis=INTERVAL_MS, **kwargs)


READERS = [pytest.param("sdk", id="sdk-reader-loses-the-child"), pytest.param("otelbundle", id="otelbundle")]


@pytest.mark.parametrize("kind", READERS)
def test_a_child_forked_mid_export_exports_its_own_metrics_and_the_parent_keeps_exporting(
    kind: str, providers: list[MeterProvider]
) -> None:
    ListExporter.made.clear()
    release = threading.Event()  # the parent's collector answers only after the fork

    def exporter() -> MetricExporter:
        return ListExporter(block=release if os.getpid() == PARENT else None)

    reader = make_reader(kind, exporter)
    counter = start(providers, reader).get_meter("test").create_counter("work")
    counter.add(1, {"who": "parent"})
    parents_exporter = ListExporter.made[0]
    assert parents_exporter.exporting.wait(CHILD_BOUND_S), "the parent never started exporting"

    def child() -> dict[str, Any]:
        inherited_batches = len(parents_exporter.batches)
        counter.add(1, {"who": f"child-{os.getpid()}"})

        def exported() -> bool:
            return len(parents_exporter.batches) > inherited_batches or any(
                e.batches for e in exports_made_here()
            )

        report: dict[str, Any] = {"exported": wait_until(exported, 2.0 if kind == "sdk" else CHILD_BOUND_S)}
        report["who"] = sorted(set().union(*(e.attribute_values("who") for e in exports_made_here())))
        if kind == "otelbundle":  # the SDK's would wait its whole 20 s deadline here
            began = time.monotonic()
            reader.shutdown(timeout_millis=20_000)
            report["shutdown_s"] = time.monotonic() - began
            report["inherited_exporter_used"] = (
                len(parents_exporter.batches) > inherited_batches or parents_exporter.shut_down
            )
        return report

    report = run_in_child(child)
    release.set()
    assert report is not None, "the child hung"
    if kind == "sdk":
        assert not report["exported"], "the SDK's reader exports in a child forked mid-export now: see docs"
    else:
        assert report["exported"]
        assert any(who.startswith("child-") for who in report["who"]), report
        assert not report["inherited_exporter_used"], "the child touched the parent's exporter (its sockets)"
        assert report["shutdown_s"] < 10, f"shutdown waited {report['shutdown_s']:.1f} s of its 20 s deadline"
    # The parent keeps exporting after the fork.
    assert wait_until(lambda: len(parents_exporter.batches) >= 3)


@pytest.mark.parametrize("kind", READERS)
def test_a_child_forked_mid_collect_can_record_and_collect(kind: str, providers: list[MeterProvider]) -> None:
    """A collect holds the SDK's storage locks; a child forked then inherits them held."""
    ListExporter.made.clear()
    in_callback = threading.Event()

    def slow_callback(options: CallbackOptions) -> Iterable[Observation]:
        if os.getpid() == PARENT:
            in_callback.set()
            time.sleep(0.5)  # the parent's collect is in the SDK, holding its lock
        yield Observation(1, {"pid": str(os.getpid())})

    reader = make_reader(kind, ListExporter)
    meter = start(providers, reader).get_meter("test")
    meter.create_observable_gauge("alive", callbacks=[slow_callback])
    counter = meter.create_counter("work")
    assert in_callback.wait(CHILD_BOUND_S)

    def child() -> dict[str, Any]:
        counter.add(1, {"who": "child"})  # a new attribute set: the SDK's recording path
        flushed = threading.Thread(target=reader.force_flush, daemon=True)
        flushed.start()
        flushed.join(2.0 if kind == "sdk" else CHILD_BOUND_S)
        return {
            "collected": not flushed.is_alive(),
            "pids": sorted(set().union(*(e.attribute_values("pid") for e in exports_made_here()))),
        }

    report = run_in_child(child)
    assert report is not None, "the child hung"
    if kind == "sdk":
        assert not report["collected"], (
            "the SDK's collect no longer blocks in a child forked mid-collect: see docs"
        )
    else:
        assert report["collected"]
        assert [p for p in report["pids"] if p != str(PARENT)], f"no point of the child's own: {report}"


def test_a_collect_stuck_past_the_timeout_does_not_hold_the_fork_and_the_child_says_it_exports_nothing(
    providers: list[MeterProvider], caplog: pytest.LogCaptureFixture
) -> None:
    ListExporter.made.clear()
    in_callback, done = threading.Event(), threading.Event()

    def stuck_callback(options: CallbackOptions) -> Iterable[Observation]:
        if os.getpid() == PARENT and not done.is_set():
            in_callback.set()
            done.wait(CHILD_BOUND_S)  # stuck until the test lets it go
        yield Observation(1)

    reader = ForkSafeMetricReader(ListExporter, export_interval_millis=INTERVAL_MS, export_timeout_millis=300)
    start(providers, reader).get_meter("test").create_observable_gauge("alive", callbacks=[stuck_callback])
    assert in_callback.wait(CHILD_BOUND_S)

    def child() -> dict[str, Any]:
        began = time.monotonic()
        flushed = reader.force_flush(timeout_millis=5_000)
        reader.shutdown(timeout_millis=5_000)
        return {
            "flushed": flushed,
            "seconds": time.monotonic() - began,
            "said": [r.getMessage() for r in caplog.records if r.name == "otelbundle.sdk.metric_reader"],
        }

    with caplog.at_level(logging.ERROR, logger="otelbundle.sdk.metric_reader"):
        report = run_in_child(child)  # the fork itself returns after the 300 ms timeout
    done.set()
    assert report is not None, "the child hung"
    assert report["flushed"] is False and report["seconds"] < 5, report
    assert any("exports no metrics" in line for line in report["said"]), report
    # The parent exports again once its collect ends.
    before = len(ListExporter.made[0].batches)
    assert wait_until(lambda: len(ListExporter.made[0].batches) > before)


def test_shutdown_exports_what_was_recorded_last_and_only_once(
    providers: list[MeterProvider], caplog: pytest.LogCaptureFixture
) -> None:
    ListExporter.made.clear()
    reader = ForkSafeMetricReader(ListExporter, export_interval_millis=60_000)
    counter = start(providers, reader).get_meter("test").create_counter("work")
    counter.add(5, {"who": "last"})
    reader.shutdown(timeout_millis=5_000)
    exporter = ListExporter.made[0]
    assert exporter.attribute_values("who") == {"last"} and exporter.shut_down
    with caplog.at_level(logging.WARNING):
        reader.shutdown()
    assert "Can't shutdown multiple times" in caplog.text
    assert reader.force_flush() is False


def test_force_flush_exports_now(providers: list[MeterProvider]) -> None:
    ListExporter.made.clear()
    reader = ForkSafeMetricReader(ListExporter, export_interval_millis=60_000)
    start(providers, reader).get_meter("test").create_counter("work").add(1, {"who": "flushed"})
    assert reader.force_flush(timeout_millis=5_000)
    assert ListExporter.made[0].attribute_values("who") == {"flushed"}


def test_interval_and_timeout_read_the_sdks_variables(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OTEL_METRIC_EXPORT_INTERVAL", "1234")
    monkeypatch.setenv("OTEL_METRIC_EXPORT_TIMEOUT", "567")
    reader = ForkSafeMetricReader(ListExporter)
    assert (reader._interval_s, reader._timeout_s) == (1.234, 0.567)
    reader.shutdown(timeout_millis=1_000)
    monkeypatch.setenv("OTEL_METRIC_EXPORT_INTERVAL", "often")
    reader = ForkSafeMetricReader(ListExporter)
    assert reader._interval_s == 60.0  # the SDK's default, with a warning, as the SDK does
    reader.shutdown(timeout_millis=1_000)
    with pytest.raises(ValueError, match="must be above 0"):
        ForkSafeMetricReader(ListExporter, export_interval_millis=0)


def test_an_exporter_that_raises_does_not_stop_the_thread(providers: list[MeterProvider]) -> None:
    calls: list[int] = []

    class Failing(ListExporter):
        def export(
            self, metrics_data: MetricsData, timeout_millis: float = 10_000, **kwargs: Any
        ) -> MetricExportResult:
            calls.append(1)
            raise RuntimeError("collector on fire")

    reader = ForkSafeMetricReader(Failing, export_interval_millis=INTERVAL_MS)
    start(providers, reader).get_meter("test").create_counter("work").add(1)
    assert wait_until(lambda: len(calls) >= 3)


class Refused(ListExporter):
    """A collector that refuses every export; ``said`` is logged by the exporter first, if given."""

    said: tuple[str, str] | None = None  # (logger, message)

    def export(
        self, metrics_data: MetricsData, timeout_millis: float = 10_000, **kwargs: Any
    ) -> MetricExportResult:
        if self.said is not None:
            logging.getLogger(self.said[0]).warning(self.said[1])
        return MetricExportResult.FAILURE


GRPC_LOGGER = "opentelemetry.exporter.otlp.proto.grpc.exporter"
HTTP_LOGGER = "opentelemetry.exporter.otlp.proto.http.metric_exporter"


@pytest.mark.parametrize(
    "said",
    [
        pytest.param(None, id="silent"),
        # The gRPC exporter's DuplicateFilter drops what the span export said there just before.
        pytest.param((GRPC_LOGGER, "Failed to export to localhost:4317, error code: UNAVAILABLE"), id="grpc"),
        # The HTTP exporter says each failure itself: still one failed export each.
        pytest.param((HTTP_LOGGER, "Failed to export metrics batch"), id="http"),
    ],
)
def test_each_failed_export_is_counted_once_from_its_result(
    providers: list[MeterProvider], said: tuple[str, str] | None
) -> None:
    importlib.import_module(GRPC_LOGGER)  # its DuplicateFilter is on the logger before ours, as in an app
    report = DropReport(endpoint="http://c:4317", emit=lambda _: None)
    fold = ExportLogFold(report)
    for protocol in ("http/protobuf", "grpc"):
        fold.attach(metric_export_logger_names({"OTEL_EXPORTER_OTLP_PROTOCOL": protocol}), metric_export=True)

    class Exporter(Refused):
        pass

    Exporter.said = said
    if said is not None:
        with fold.during():  # a span export failing the same way, a moment before
            logging.getLogger(said[0]).warning(said[1])
    metric_reader.count_exports_with(lambda export: count_export(report, fold, "metrics", 0, export))
    try:
        reader = ForkSafeMetricReader(Exporter, export_interval_millis=60_000)
        start(providers, reader).get_meter("test").create_counter("work").add(1)
        assert reader.force_flush(timeout_millis=5_000) is False
        assert reader.force_flush(timeout_millis=5_000) is False
    finally:
        metric_reader.count_exports_with(None)
        fold.detach()
    assert report.counts["metrics"].failed_exports == 2
    assert report.not_flushed() == {}


class DeltaListExporter(ListExporter):
    """A ListExporter that asks for delta counters (as OTEL_EXPORTER_OTLP_METRICS_TEMPORALITY_PREFERENCE=delta)."""

    def __init__(self) -> None:
        super().__init__()
        self._preferred_temporality = {Counter: AggregationTemporality.DELTA}


def counted(exporters: Iterable[ListExporter], name: str = "work") -> float:
    """The sum of every point of ``name`` the exporters were given."""
    return sum(
        point.value
        for exporter in exporters
        for batch in exporter.batches
        for resource in batch.resource_metrics
        for scope in resource.scope_metrics
        for metric in scope.metrics
        if metric.name == name
        for point in metric.data.data_points
        if isinstance(point, NumberDataPoint)
    )


@pytest.mark.parametrize(
    ("exporter", "child_counts"),
    [
        # The child inherits the SDK's storage: without a collect at the fork it exported the
        # parent's 5 again.
        (DeltaListExporter, 1),
        # What docs/fork-servers.md says: the child's own series (its own service.instance.id)
        # starts at the parent's value; rates and increases are right.
        (ListExporter, 6),
    ],
    ids=["delta: the parent's points exported once, by the parent", "cumulative: the child starts from them"],
)
def test_a_forked_child_and_the_parents_uncollected_points(
    providers: list[MeterProvider], exporter: type[ListExporter], child_counts: int
) -> None:
    ListExporter.made.clear()
    reader = ForkSafeMetricReader(exporter, export_interval_millis=60_000)
    counter = start(providers, reader).get_meter("test").create_counter("work")
    counter.add(5)

    def child() -> dict[str, Any]:
        counter.add(1)
        reader.force_flush(timeout_millis=5_000)
        return {"counted": counted(exports_made_here())}

    assert run_in_child(child) == {"counted": child_counts}
    assert reader.force_flush(timeout_millis=5_000)
    assert counted(exports_made_here()) == 5


def test_with_delta_temporality_a_callback_that_hangs_at_the_fork_holds_it_no_longer_than_the_timeout(
    providers: list[MeterProvider],
) -> None:
    """The collect at the fork runs the observable callbacks; one that never returns must not hold
    the app's fork() for ever. The fork goes on after the export timeout (0.5 s here) and, as for
    a collect stuck in the periodic thread, that child exports no metrics."""
    ListExporter.made.clear()
    reader = ForkSafeMetricReader(DeltaListExporter, export_interval_millis=60_000, export_timeout_millis=500)
    stuck, release = threading.Event(), threading.Event()

    def callback(options: CallbackOptions) -> Iterable[Observation]:
        if stuck.is_set():
            release.wait()
        yield Observation(1)

    start(providers, reader).get_meter("test").create_observable_gauge("hangs", callbacks=[callback])
    stuck.set()
    child: list[dict[str, Any] | None] = []
    forker = threading.Thread(
        target=lambda: child.append(run_in_child(lambda: {"exported": reader.force_flush(1_000)})),
        daemon=True,
    )
    forker.start()
    forker.join(CHILD_BOUND_S)
    fork_returned = not forker.is_alive()
    release.set()
    forker.join(CHILD_BOUND_S)
    assert fork_returned, "the fork (or the child's flush) waited for a callback that does not return"
    assert child == [{"exported": False}]
    stuck.clear()
    assert reader.force_flush(timeout_millis=5_000), "the parent exports again once the callback returns"
