"""Cost and speed of in-process alert rules, measured in one run.

1. Span throughput of SDK + BatchSpanProcessor (discarding exporter) with the
   alerting processor and 10 realistic rules vs without it (ratio; target <= 1.10),
   and, for reference, with a processor that only reads each span's attributes
   and with one that does nothing.
   The engine thread runs as in an app: woken by the first span after each
   drain, folding at most every min_fold_interval and evaluating between ticks.
2. Memory of 10 rules x 1000 group keys (tracemalloc; target <= 20 MB).
3. Log record cost: a logging call through the OTel handler into a LoggerProvider
   with a BatchLogRecordProcessor (discarding exporter), with the alert rules' log
   intake installed vs without (ratio; the intake only appends).
4. Time from the first failing span to the alert at a real Alertmanager
   (rule with for: 0, interval 1 s: it goes out between ticks), median of several
   runs (target <= 0.1 s). Needs Debian's prometheus-alertmanager; skipped with a
   message otherwise.
5. An SLO configured: span cost of the 10 rules plus one SLO (its three
   burn-rate rules) vs the 10 rules alone and the SDK alone, interleaved; and
   the bytes one SLO takes in process (tracemalloc, 200 SLOs with every window
   bucket used over 31 simulated days).

   With --breakdown, the same rounds also say where the rules' share goes: a side
   whose engine thread takes the spans and lets them go without folding (the
   queue, wake-ups and the spans' longer life), the CPU the drains take per span
   and how many drains a round folds, and garbage collection per span per side.

    python bench/bench_alerting.py [--spans 200000] [--rounds 100] [--slo-only | --span-cost-only] [--breakdown]
"""

from __future__ import annotations

import argparse
import contextlib
import gc
import json
import logging
import shutil
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time
import tracemalloc
import urllib.request
from collections.abc import Callable, Sequence
from importlib.metadata import version
from pathlib import Path

from opentelemetry.instrumentation.logging.handler import LoggingHandler
from opentelemetry.sdk._logs import LoggerProvider, ReadableLogRecord
from opentelemetry.sdk._logs.export import BatchLogRecordProcessor, LogRecordExporter, LogRecordExportResult
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import ReadableSpan, SpanProcessor, TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExporter, SpanExportResult
from opentelemetry.trace import SpanKind, StatusCode

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from harness.apps import free_port  # noqa: E402
from otelbundle.alerting.engine import Engine  # noqa: E402
from otelbundle.alerting.log_intake import LogIntake  # noqa: E402
from otelbundle.alerting.manager import RuleManager, build_alerting  # noqa: E402
from otelbundle.alerting.processor import DEFAULT_QUEUE_SIZE, AlertingSpanProcessor  # noqa: E402
from otelbundle.alerting.section import load_alerting_config  # noqa: E402

TEN_RULES = """
groups:
  - name: bench
    rules:
      - {alert: CheckoutErrors, spans: {service: shop, kind: server, name: "POST /checkout"}, expr: error_ratio > 5%, window: 1m}
      - {alert: RouteErrors, spans: {service: shop, kind: server}, expr: error_count > 10, group_by: [http.route]}
      - {alert: RouteSlow, spans: {service: shop, kind: server}, expr: p95 > 500ms, group_by: [http.route], window: 5m}
      - {alert: AnySlow, spans: {service: shop}, expr: max_duration > 5s}
      - {alert: Server5xx, spans: {service: shop, kind: server, where: ["http.response.status_code >= 500"]}, expr: count > 10}
      - {alert: SlowSQL, spans: {service: shop, kind: client, where: ['db.system == "sqlite"']}, expr: p99 > 200ms}
      - {alert: OtherService, spans: {service: billing, kind: server}, expr: error_ratio > 1%}
      - {alert: Heartbeat, spans: {service: shop, name: "POST /reserve"}, expr: absent, window: 10m}
      - {alert: HighRate, spans: {service: "sh*"}, expr: rate > 100000}
      - {alert: Posts, spans: {service: shop, name_regex: "^POST ", where: ['http.request.method == "POST"']}, expr: avg_duration > 1s}
"""


class ReadsAttributes(SpanProcessor):
    """The reference point the target was set against: a processor that only reads each
    span's attributes on the application's thread."""

    def on_end(self, span: ReadableSpan) -> None:
        for _key, _value in (span.attributes or {}).items():
            pass


class DoesNothing(SpanProcessor):
    """What any second processor costs: the SDK's loop calls its on_start and on_end."""


class Discard(SpanExporter):
    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        return SpanExportResult.SUCCESS


def rules_config(folder: Path, rules: str, extra: str = "") -> Path:
    (folder / "rules.yaml").write_text(textwrap.dedent(rules))
    (folder / "otelbundle.yaml").write_text("alerting:\n  rule_files: [rules.yaml]\n" + extra)
    return folder / "otelbundle.yaml"


def make_provider(alerting: SpanProcessor | None) -> TracerProvider:
    provider = TracerProvider(resource=Resource.create({"service.name": "shop"}))
    if alerting is not None:
        provider.add_span_processor(alerting)
    provider.add_span_processor(BatchSpanProcessor(Discard(), max_queue_size=100_000))
    return provider


def spans_per_second(
    provider: TracerProvider, count: int, processor: AlertingSpanProcessor | None = None
) -> tuple[float, float]:
    """(spans per second of wall time, spans per second of process CPU time, all threads).

    With rules, the timed part ends only once every span has been folded into
    the windows, so the engine thread's share of the work is in the figure.

    Every side starts from a collected heap: the garbage collections inside the
    timed part are then the ones its own allocations trigger (kept: holding spans
    until they are folded is a real cost), not a full collection that the side
    before left due. Without it, where such a collection lands decides a round:
    quartiles of the ratio were 0.86-1.42, against 1.09-1.15 with the collector off.
    """
    tracer = provider.get_tracer("bench")
    routes = ["/checkout", "/products", "/cart", "/login"]
    gc.collect()
    started, cpu_started = time.perf_counter(), time.process_time()
    for i in range(count):
        with tracer.start_as_current_span(
            "POST /checkout" if i % 4 == 0 else "GET /products",
            kind=SpanKind.SERVER,
            attributes={
                "http.route": routes[i % 4],
                "http.request.method": "POST" if i % 4 == 0 else "GET",
                "http.response.status_code": 500 if i % 50 == 0 else 200,
            },
        ) as span:
            if i % 50 == 0:
                span.set_status(StatusCode.ERROR)
    if processor is not None:
        processor.drain(time.time())
    return count / (time.perf_counter() - started), count / (time.process_time() - cpu_started)


class GcClock:
    """Seconds spent in young-generation collections (0 and 1), on any thread."""

    def __init__(self) -> None:
        self.seconds = 0.0
        self._started = 0.0
        gc.callbacks.append(self._callback)

    def _callback(self, phase: str, info: dict[str, int]) -> None:
        if info["generation"] == 2:
            return
        if phase == "start":
            self._started = time.perf_counter()
        else:
            self.seconds += time.perf_counter() - self._started

    def close(self) -> None:
        gc.callbacks.remove(self._callback)


class Breakdown:
    """--breakdown: where the rules' share of a span's cost goes, in the same interleaved rounds.

    ``dropping`` is a second manager whose engine thread takes the queued spans and lets
    them go without folding them: what the queue, the wake-ups, the engine thread and the
    spans' longer life cost by themselves. The drains of ``processor`` (on the engine
    thread, and the one at each round's end) are timed on their own thread's CPU clock.
    """

    def __init__(self, processor: AlertingSpanProcessor, dropping: AlertingSpanProcessor) -> None:
        self.drains_with_spans = 0
        self.drain_cpu = 0.0
        self.gc = GcClock()
        self.gc_seconds: dict[str, float] = {"sdk": 0.0, "rules": 0.0}
        self.dropping = dropping
        drain = processor.drain

        def timed(now: float) -> int:
            started = time.thread_time()
            folded = drain(now)
            self.drain_cpu += time.thread_time() - started
            self.drains_with_spans += folded > 0
            return folded

        processor.drain = timed  # type: ignore[method-assign]
        queue = dropping._queue

        def let_go(now: float) -> int:
            taken = 0
            with contextlib.suppress(IndexError):
                while True:
                    queue.popleft()
                    taken += 1
            dropping.spans_folded += taken
            return taken

        dropping.drain = let_go  # type: ignore[method-assign]

    def timing_gc(self, side: str, run: Callable[[], tuple[float, float]]) -> tuple[float, float]:
        before = self.gc.seconds
        result = run()
        self.gc_seconds[side] += self.gc.seconds - before
        return result


def throughput(folder: Path, count: int, rounds: int, breakdown: bool = False) -> None:
    """Interleaved rounds of short runs (SDK alone, SDK + rules, SDK + a processor that
    only reads attributes), so that a slow second on a shared machine hits all sides
    of a round; each ratio is the median over rounds, with quartiles for the spread.
    With rules, a run ends only once every span is folded into the windows."""
    config = load_alerting_config(str(rules_config(folder, TEN_RULES)), {})
    assert config is not None
    config.span_queue_size = DEFAULT_QUEUE_SIZE
    manager = RuleManager(config, dispatcher=type("D", (), {"submit": lambda self, a: None})())
    processor = manager.processor
    parts: Breakdown | None = None
    if breakdown:
        dropping = RuleManager(config, dispatcher=type("D", (), {"submit": lambda self, a: None})())
        parts = Breakdown(processor, dropping.processor)
        dropping.start()
    manager.start()  # folds and evaluates between ticks as spans arrive, as in an app
    engine = manager.engine
    plain = make_provider(None)
    with_rules = make_provider(processor)
    reading = make_provider(ReadsAttributes())
    idle = make_provider(DoesNothing())
    spans_per_second(plain, 2000)
    spans_per_second(with_rules, 2000, processor)
    chunk = max(500, count // rounds)
    ours: list[tuple[float, float]] = []  # (wall, CPU) ratios to the SDK alone, per pair
    reads: list[float] = []
    nothing: list[float] = []
    dropped: list[float] = []
    if parts is not None:
        letting_go = make_provider(parts.dropping)
        spans_per_second(letting_go, 2000, parts.dropping)
        parts.drain_cpu, parts.drains_with_spans = 0.0, 0
    for _ in range(rounds):
        if parts is None:
            sdk = spans_per_second(plain, chunk)
            with_ours = spans_per_second(with_rules, chunk, processor)
        else:
            sdk = parts.timing_gc("sdk", lambda: spans_per_second(plain, chunk))
            with_ours = parts.timing_gc("rules", lambda: spans_per_second(with_rules, chunk, processor))
            dropped.append(sdk[0] / spans_per_second(letting_go, chunk, parts.dropping)[0])
        ours.append((sdk[0] / with_ours[0], sdk[1] / with_ours[1]))
        reads.append(sdk[0] / spans_per_second(reading, chunk)[0])
        nothing.append(sdk[0] / spans_per_second(idle, chunk)[0])
    manager.stop()
    wall, cpu = sorted(r[0] for r in ours), sorted(r[1] for r in ours)
    windows = sum(len(s.windows) for s in engine.states.values())
    print(
        f"python {sys.version.split()[0]}, opentelemetry-sdk {version('opentelemetry-sdk')}; "
        f"span cost ({rounds} interleaved rounds x {chunk} spans; SDK + BatchSpanProcessor alone "
        f"{1e6 / spans_per_second(plain, chunk)[0]:.1f} us/span); {processor.spans_folded:,} spans folded "
        f"into {windows} windows, {processor.spans_dropped} dropped"
    )
    print(
        f"  with 10 rules / SDK alone, wall time: median {statistics.median(wall):.3f} "
        f"(quartiles {quartiles(wall)})   (target <= 1.10)"
    )
    print(
        f"  with 10 rules / SDK alone, CPU time of all threads: median {statistics.median(cpu):.3f} (quartiles {quartiles(cpu)})"
    )
    print(
        f"  a processor that only reads attributes / SDK alone: median {statistics.median(reads):.3f} "
        f"(quartiles {quartiles(sorted(reads))})"
    )
    print(
        f"  a processor that does nothing / SDK alone: median {statistics.median(nothing):.3f} "
        f"(quartiles {quartiles(sorted(nothing))})"
    )
    if parts is not None:
        spans = rounds * chunk
        print(
            "  breakdown: the engine thread takes the spans and lets them go, no fold / SDK alone: "
            f"median {statistics.median(dropped):.3f} (quartiles {quartiles(sorted(dropped))})"
        )
        print(
            f"  breakdown: the drains folded {parts.drains_with_spans / rounds:.1f} times a round "
            f"(engine thread and round end), {parts.drain_cpu / spans * 1e6:.2f} us of their thread's CPU a span; "
            f"garbage collection (generations 0-1) {parts.gc_seconds['sdk'] / spans * 1e6:.2f} us a span "
            f"with the SDK alone, {parts.gc_seconds['rules'] / spans * 1e6:.2f} us with the rules"
        )
        parts.gc.close()
    engine.evaluate(time.time())


def quartiles(values: list[float]) -> str:
    q1, _, q3 = statistics.quantiles(values, n=4)
    return f"{q1:.3f}-{q3:.3f}"


def memory(folder: Path) -> None:
    rules = "groups:\n  - name: mem\n    rules:\n" + "".join(
        f"      - {{alert: R{i}, spans: {{service: shop}}, expr: p95 > 1s, group_by: [http.route], window: 5m}}\n"
        for i in range(10)
    )
    config = load_alerting_config(str(rules_config(folder, rules, "  max_group_keys: 1000\n")), {})
    assert config is not None
    tracemalloc.start()
    before = tracemalloc.take_snapshot()
    engine = Engine(config, dispatcher=type("D", (), {"submit": lambda self, a: None})())
    processor = engine.processor
    processor.resize(40_000)
    provider = make_provider(processor)
    tracer = provider.get_tracer("mem")
    for i in range(30_000):  # every key gets spans of varied duration
        with tracer.start_as_current_span("GET", attributes={"http.route": f"/r{i % 1000}"}):
            pass
        if i % 3000 == 2999:  # ten drains over the window's ten buckets, as the engine thread would
            processor.drain(time.time() + i // 3000 * 30)
    after = tracemalloc.take_snapshot()
    states_bytes = sum(
        s.size_diff for s in after.compare_to(before, "filename") if "otelbundle/alerting" in str(s.traceback)
    )
    tracemalloc.stop()
    keys = sum(len(s.windows) for s in engine.states.values())
    print(
        f"memory: 10 rules x {keys // 10} group keys = {states_bytes / 1e6:.1f} MB allocated by the alerting code   (target <= 20 MB)"
    )


def time_to_alert(folder: Path, runs: int) -> None:
    binary = shutil.which("prometheus-alertmanager") or shutil.which("alertmanager")
    if binary is None:
        print("time to alert: skipped (install Debian's prometheus-alertmanager)")
        return
    port = free_port()
    (folder / "am.yml").write_text("route: {receiver: none}\nreceivers: [{name: none}]\n")
    am = subprocess.Popen(
        [
            binary,
            f"--config.file={folder / 'am.yml'}",
            f"--storage.path={folder / 'am'}",
            f"--web.listen-address=127.0.0.1:{port}",
            "--cluster.listen-address=",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        for _ in range(100):
            try:
                urllib.request.urlopen(f"{url}/-/ready", timeout=1).close()
                break
            except OSError:
                time.sleep(0.1)
        samples = []
        for run in range(runs):
            name = f"BenchErrors{run}"
            rule = f"""
            groups:
              - name: g{run}
                interval: 1s
                rules:
                  - {{alert: {name}, spans: {{service: shop, kind: server}}, expr: error_count > 0, for: 0s}}
            """
            config_path = rules_config(folder, rule, f"  notify:\n    alertmanager: {{url: '{url}'}}\n")
            setup = build_alerting(str(config_path), {})
            assert setup is not None
            provider = make_provider(setup.processor)
            first_failure = time.perf_counter()
            with provider.get_tracer("t").start_as_current_span(
                "POST /checkout", kind=SpanKind.SERVER
            ) as span:
                span.set_status(StatusCode.ERROR)
            while True:
                alerts = json.load(
                    urllib.request.urlopen(f"{url}/api/v2/alerts?filter=alertname%3D%22{name}%22")
                )
                if alerts:
                    samples.append(time.perf_counter() - first_failure)
                    break
                if time.perf_counter() - first_failure > 10:
                    samples.append(float("inf"))
                    break
                time.sleep(0.02)
            setup.shutdown()
        print(
            f"time from first failing span to the alert at Alertmanager (for: 0, interval 1s): "
            f"median {statistics.median(samples):.2f}s over {runs} runs (min {min(samples):.2f}, max {max(samples):.2f})"
            "   (target <= 0.1 s)"
        )
    finally:
        am.terminate()
        am.wait(10)


class DiscardLogs(LogRecordExporter):
    def export(self, batch: Sequence[ReadableLogRecord]) -> LogRecordExportResult:
        return LogRecordExportResult.SUCCESS

    def shutdown(self) -> None:
        return None

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        return True


def log_cost(rounds: int, records: int = 2000) -> None:
    """Interleaved rounds: records through the OTel logging handler, with and without the intake;
    the intake's drains (every DRAIN_AT records, and at the end) are timed with its side."""
    loggers = []
    for with_intake in (False, True):
        provider = LoggerProvider()
        intake = LogIntake(queue_size=records + 1)
        if with_intake:
            provider.add_log_record_processor(intake)
            # The engine thread drains when asked; here the drain runs inline and is timed with the rest.
            intake.drain_soon = lambda intake=intake: intake.drain(time.time())  # type: ignore[misc]
        provider.add_log_record_processor(BatchLogRecordProcessor(DiscardLogs(), max_queue_size=100_000))
        logger = logging.getLogger(f"bench.logs.{with_intake}")
        logger.addHandler(LoggingHandler(logger_provider=provider))
        logger.setLevel(logging.INFO)
        logger.propagate = False
        loggers.append((logger, intake))
    tracer = TracerProvider().get_tracer("bench")
    ratios = []
    for number in range(rounds):
        took = [0.0, 0.0]
        for side in (0, 1) if number % 2 == 0 else (1, 0):  # alternate which side runs first
            logger, intake = loggers[side]
            gc.collect()  # each side from a collected heap, as in spans_per_second
            started = time.perf_counter()
            with tracer.start_as_current_span("request"):
                for i in range(records):
                    logger.info("checkout %d of %s", i, "APPLE")
            intake.drain(time.time())
            took[side] = time.perf_counter() - started
        ratios.append(took[1] / took[0])
    ratios.sort()
    print(
        f"log record cost ({rounds} interleaved rounds x {records} records): with the log intake / without: "
        f"median {statistics.median(ratios):.3f} (quartiles {quartiles(ratios)})"
    )


CHECKOUT_SLO = """
slos:
  - name: checkout
    spans: {service: shop, kind: server, name: "POST /checkout"}
    objective: 99%
    good_if_faster_than: 250ms
"""


def slo_span_cost(folder: Path, count: int, rounds: int) -> None:
    """Interleaved rounds: SDK alone, SDK + 10 rules, SDK + 10 rules + an SLO on checkout."""
    (folder / "slo").mkdir(exist_ok=True)
    (folder / "slo" / "checkout.slos.yaml").write_text(CHECKOUT_SLO)
    managers = []
    for sub, extra_files in (("rules", ""), ("slo", ', "checkout.slos.yaml"')):
        (folder / sub).mkdir(exist_ok=True)
        (folder / sub / "rules.yaml").write_text(textwrap.dedent(TEN_RULES))
        (folder / sub / "otelbundle.yaml").write_text(
            f'alerting:\n  rule_files: ["rules.yaml"{extra_files}]\n'
        )
        config = load_alerting_config(str(folder / sub / "otelbundle.yaml"), {})
        assert config is not None
        manager = RuleManager(config, dispatcher=type("D", (), {"submit": lambda self, a: None})())
        manager.start()
        managers.append(manager)
    plain = make_provider(None)
    rules_only = make_provider(managers[0].processor)
    with_slo = make_provider(managers[1].processor)
    chunk = max(500, count // rounds)
    for provider, manager in ((rules_only, managers[0]), (with_slo, managers[1])):
        spans_per_second(provider, 2000, manager.processor)
    vs_sdk: list[float] = []
    vs_rules: list[float] = []
    for _ in range(rounds):
        sdk = spans_per_second(plain, chunk)[0]
        rules = spans_per_second(rules_only, chunk, managers[0].processor)[0]
        slo = spans_per_second(with_slo, chunk, managers[1].processor)[0]
        vs_sdk.append(sdk / slo)
        vs_rules.append(rules / slo)
    for manager in managers:
        manager.stop()
    print(
        f"span cost with an SLO configured ({rounds} interleaved rounds x {chunk} spans; SLO on 1 span in 4):"
    )
    print(
        f"  10 rules + 1 SLO / 10 rules: median {statistics.median(vs_rules):.3f} "
        f"(quartiles {quartiles(sorted(vs_rules))})   (target: 1.00 within the noise)"
    )
    print(
        f"  10 rules + 1 SLO / SDK alone: median {statistics.median(vs_sdk):.3f} "
        f"(quartiles {quartiles(sorted(vs_sdk))})   (target <= 1.10)"
    )


def slo_memory(folder: Path, slos: int = 200) -> None:
    """Bytes per SLO: 200 SLOs, each on its own service, every bucket of every window used."""
    (folder / "mem-slo").mkdir(exist_ok=True)
    (folder / "mem-slo" / "s.slos.yaml").write_text(
        "slos:\n"
        + "".join(
            f"  - {{name: s{i}, spans: {{service: svc{i}, kind: server}}, objective: 99.9%, good_if_faster_than: 1s}}\n"
            for i in range(slos)
        )
    )
    (folder / "mem-slo" / "otelbundle.yaml").write_text('alerting:\n  rule_files: ["s.slos.yaml"]\n')
    tracemalloc.start()
    before = tracemalloc.take_snapshot()
    config = load_alerting_config(str(folder / "mem-slo" / "otelbundle.yaml"), {})
    assert config is not None
    engine = Engine(config, dispatcher=type("D", (), {"submit": lambda self, a: None})())
    loaded = tracemalloc.take_snapshot()
    processor = engine.processor
    processor.resize(slos * 2 + 10)
    providers = [TracerProvider(resource=Resource.create({"service.name": f"svc{i}"})) for i in range(slos)]
    for provider in providers:
        provider.add_span_processor(processor)
    start = time.time()
    for step in range(0, 31 * 24 * 3600, 3600):  # every hour for 31 days: every bucket of the long windows
        for i, provider in enumerate(providers):
            with provider.get_tracer("m").start_as_current_span("GET", kind=SpanKind.SERVER) as span:
                if (step // 3600 + i) % 40 == 0:
                    span.set_status(StatusCode.ERROR)
        processor.drain(start + step)
        if step % (6 * 3600) == 0:
            engine.evaluate(start + step)
    after = tracemalloc.take_snapshot()
    tracemalloc.stop()

    def allocated(new: tracemalloc.Snapshot, old: tracemalloc.Snapshot, *where: str) -> int:
        """Bytes still held that were allocated in files whose path contains one of ``where``."""
        return sum(
            s.size_diff for s in new.compare_to(old, "filename") if any(w in str(s.traceback) for w in where)
        )

    windows = sum(len(s.windows) for s in engine.states.values())
    window_bytes = allocated(
        after, loaded, "alerting/window.py", "alerting/slo/windows.py", "alerting/state.py"
    )
    print(
        f"memory per SLO ({slos} SLOs, {windows} burn-rate windows, 31 simulated days, all firing): "
        f"{window_bytes / slos:,.0f} bytes of windows; "
        f"{allocated(after, loaded, 'otelbundle/alerting') / slos:,.0f} bytes with its firing alerts and "
        f"cached span plans; {allocated(loaded, before, 'otelbundle/alerting') / slos:,.0f} bytes of rules "
        "(3 burn-rate rules with their templates)"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--spans", type=int, default=200_000, help="spans per side in the throughput test")
    parser.add_argument("--rounds", type=int, default=100, help="interleaved rounds they are cut into")
    parser.add_argument("--slo-only", action="store_true", help="only the SLO measures (5.)")
    parser.add_argument("--span-cost-only", action="store_true", help="only the span cost (1.)")
    parser.add_argument(
        "--breakdown", action="store_true", help="with the span cost, where the rules' share goes (1.)"
    )
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        if args.span_cost_only:
            throughput(folder, args.spans, args.rounds, args.breakdown)
            return
        if not args.slo_only:
            throughput(folder, args.spans, args.rounds, args.breakdown)
            memory(folder)
            log_cost(args.rounds)
            time_to_alert(folder, runs=5)
        slo_span_cost(folder, args.spans, args.rounds)
        slo_memory(folder)


if __name__ == "__main__":
    main()
