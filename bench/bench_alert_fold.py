"""Where the alert rules' span cost goes, and designs that were measured instead, in one run.

bench_alerting.py gives the span cost of 10 rules against the SDK alone; this
takes it apart (docs/performance.md, "Alert rules"):

1. The fold of 2 000 spans with the 10 rules, ns a span: on spans just created
   (the first fold, as the engine thread meets them) and on the same spans
   again (in the CPU's cache); and what only reading the fields the fold needs
   costs: through the public properties, through their getters called as
   functions (what the fold does), and through the SDK's private fields (what
   the fold does not do).
2. Span cost against the SDK alone, interleaved rounds: the shipped design
   (engine thread); the same folded at the end of each round on the
   application's thread; the spans read in ``on_end`` while in cache and
   pre-read rows folded (a design not taken); a processor that only keeps the
   last 3 000 spans alive.

    python bench/bench_alert_fold.py [--rounds 60]
"""

from __future__ import annotations

import argparse
import operator
import statistics
import sys
import tempfile
import time
from collections import deque
from collections.abc import Callable, Sequence
from pathlib import Path

from opentelemetry.sdk.trace import ReadableSpan, SpanProcessor, TracerProvider

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "bench"))

from bench_alerting import TEN_RULES, make_provider, quartiles, rules_config, spans_per_second  # noqa: E402

from otelbundle.alerting import batch  # noqa: E402
from otelbundle.alerting.manager import RuleManager  # noqa: E402
from otelbundle.alerting.processor import DEFAULT_QUEUE_SIZE, AlertingSpanProcessor  # noqa: E402
from otelbundle.alerting.section import load_alerting_config  # noqa: E402
from otelbundle.alerting.state import RuleState, Tally  # noqa: E402

SPANS = 2000
FIELDS = operator.itemgetter("http.route", "http.response.status_code")


def manager(folder: Path, queue_size: int = DEFAULT_QUEUE_SIZE) -> RuleManager:
    config = load_alerting_config(str(rules_config(folder, TEN_RULES)), {})
    assert config is not None
    config.span_queue_size = queue_size
    return RuleManager(config, dispatcher=type("D", (), {"submit": lambda self, a: None})())


def read_public(spans: Sequence[ReadableSpan]) -> None:
    for s in spans:  # one read a statement, as the fold makes them (no tuple built)
        _ = s.name
        _ = s.kind
        _ = s.resource
        _ = s.status.status_code
        _ = FIELDS(s.attributes)
        _ = s.start_time
        _ = s.end_time


def read_getters(spans: Sequence[ReadableSpan]) -> None:
    name, kind, resource, status, attributes, start, end = batch.GETTERS
    for s in spans:
        _ = name(s)
        _ = kind(s)
        _ = resource(s)
        _ = status(s).status_code
        _ = FIELDS(attributes(s))
        _ = start(s)
        _ = end(s)


def read_private(spans: Sequence[ReadableSpan]) -> None:
    for s in spans:
        _ = s._name
        _ = s._kind
        _ = s._resource
        _ = s._status.status_code
        _ = FIELDS(s._attributes)
        _ = s._start_time
        _ = s._end_time


def fold_costs(folder: Path, rounds: int) -> None:
    rules = manager(folder, queue_size=SPANS * 2)
    processor = rules.processor
    processor.wakeup = None
    provider = make_provider(processor)
    plans = processor._plans  # the processor's own plans, as its drain uses them
    fresh: list[float] = []
    fresh_reads: list[float] = []
    cached: list[float] = []
    reads: dict[str, list[float]] = {"public properties": [], "getters": [], "private fields": []}
    for _ in range(max(10, rounds // 2)):
        spans_per_second(provider, SPANS)
        spans = list(processor._queue)  # the spans the drain is about to fold
        started = time.perf_counter()
        processor.drain(time.time())
        fresh.append(time.perf_counter() - started)
        # The same reads the fold makes, on spans just created as the drain meets them.
        spans_per_second(provider, SPANS)
        started = time.perf_counter()
        read_getters(list(processor._queue))
        fresh_reads.append(time.perf_counter() - started)
        processor.drain(time.time())
        started = time.perf_counter()
        batch.fold(spans, plans, time.time(), lambda count: None)
        cached.append(time.perf_counter() - started)
        for label, read in zip(reads, (read_public, read_getters, read_private), strict=True):
            started = time.perf_counter()
            read(spans)
            reads[label].append(time.perf_counter() - started)

    def ns(samples: list[float]) -> str:
        return f"{statistics.median(samples) / SPANS * 1e9:.0f}"

    print(f"fold of {SPANS} spans with 10 rules, ns a span (median of {len(fresh)}):")
    print(f"  spans just created (the first fold): {ns(fresh)}; the same spans again, in cache: {ns(cached)}")
    print(
        f"  only reading what the fold reads (getters), on spans just created: {ns(fresh_reads)}; "
        "the rest of the first fold is grouping, tallies and window updates"
    )
    print(
        "  only reading name, kind, resource, status, 2 attributes, start and end (in cache): "
        + ", ".join(f"{label} {ns(samples)}" for label, samples in reads.items())
    )


class ReadInOnEnd(SpanProcessor):
    """Not taken: read the span on the application's thread while it is in cache, fold rows later."""

    def __init__(self, plans: batch.PlanCache) -> None:
        self.plans = plans
        self.rows: deque[tuple[tuple[object, ...], int, ReadableSpan]] = deque()

    def on_end(self, span: ReadableSpan) -> None:
        name, kind, resource, status, attributes, start, end = batch.GETTERS
        plan = self.plans.last_by_name.get(name(span))
        if plan is None or plan.kind is not kind(span) or plan.resource is not resource(span):
            plan = self.plans.plan_for(span)
        code = status(span).status_code
        number = 2 if code is batch._ERROR else 1 if code is batch._OK else 0
        assert plan.read_fields is not None
        self.rows.append(((plan, number, plan.read_fields(attributes(span))), end(span) - start(span), span))

    def drain(self, now: float) -> None:
        tallies: dict[tuple[object, ...], Tally] = {}
        updates: dict[tuple[RuleState, tuple[str, ...]], list[batch.Share]] = {}
        rows = self.rows
        for _ in range(len(rows)):
            signature, duration, span = rows.popleft()
            tally = tallies.get(signature)
            if tally is None:
                tally = tallies[signature] = Tally(signature[0].track_bins)  # type: ignore[attr-defined]
            tally.add(span, duration)
        for signature, tally in tallies.items():
            tally.close()
            batch.route_shared(self.plans, signature, tally, updates)
        batch.apply_shares(updates, now, lambda count: None)


class KeepsSpans(SpanProcessor):
    def __init__(self, count: int) -> None:
        self.spans: deque[ReadableSpan] = deque(maxlen=count)

    def on_end(self, span: ReadableSpan) -> None:
        self.spans.append(span)


def designs(folder: Path, rounds: int) -> None:
    shipped, at_end, in_on_end = manager(folder), manager(folder), manager(folder)
    shipped.start()
    at_end.processor.wakeup = None
    reader = ReadInOnEnd(in_on_end.processor._plans)
    plain = make_provider(None)
    sides: list[tuple[str, TracerProvider, Callable[[], object] | None, AlertingSpanProcessor | None]] = [
        ("shipped: queued, folded on the engine thread", make_provider(shipped.processor), None, shipped.processor),
        ("folded at the end of each round, application's thread", make_provider(at_end.processor), None, at_end.processor),
        ("read in on_end (in cache), rows folded at round end", make_provider(reader), lambda: reader.drain(time.time()), None),
        ("a processor that only keeps the last 3 000 spans", make_provider(KeepsSpans(3000)), None, None),
    ]  # fmt: skip
    ratios: dict[str, list[float]] = {label: [] for label, *_ in sides}
    for _label, provider, after, processor in sides:
        spans_per_second(provider, SPANS, processor)
        if after is not None:
            after()
    for _ in range(rounds):
        for label, provider, after, processor in sides:
            sdk = SPANS / spans_per_second(plain, SPANS)[0]
            seconds = SPANS / spans_per_second(provider, SPANS, processor)[0]
            if after is not None:  # the rows' fold belongs to the round, as the shipped drain does
                started = time.perf_counter()
                after()
                seconds += time.perf_counter() - started
            ratios[label].append(seconds / sdk)
    shipped.stop()
    print(
        f"span cost against the SDK alone ({rounds} interleaved rounds x {SPANS} spans), median (quartiles):"
    )
    for label, values in ratios.items():
        print(f"  {label}: {statistics.median(values):.3f} ({quartiles(sorted(values))})")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=60, help="interleaved rounds of the span-cost part")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        fold_costs(Path(tmp), args.rounds)
        designs(Path(tmp), args.rounds)


if __name__ == "__main__":
    main()
