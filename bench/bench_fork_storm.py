"""Fork storm: how many forked children export their metrics, SDK reader vs otelbundle's, in one run.

A parent exports metrics every 100 ms to an in-process OTLP receiver that takes
150 ms to answer (harness/otlp_receiver.py), and forks 20 children at random
moments (0-200 ms apart). Each child lives 1 s and exits normally. Counted per
storm: children with any data point at the receiver, children with a point from
a periodic export while alive, children that did not exit within 10 s of their
life (hung, killed), and whether the parent still exported after the storm.

Variants, interleaved run by run (same seed for each variant within a round):

* ``sdk``: MeterProvider + the SDK's PeriodicExportingMetricReader + OTLP/HTTP exporter;
* ``otelbundle``: the same with otelbundle's ForkSafeMetricReader;
* ``configured``: under ``opentelemetry-instrument`` with the otelbundle distro (what users run).

    python bench/bench_fork_storm.py [--runs 10] [--children 20] [--variants sdk,otelbundle,configured]
        [--busy-recorder]

``--busy-recorder`` adds an app thread in the parent that records all the time (the
case no reader can cover: a thread inside the SDK's recording path at the fork).
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from harness.fork_storm import StormResult, run_storm  # noqa: E402
from harness.otlp_receiver import OtlpReceiver  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--runs", type=int, default=10)
    parser.add_argument("--children", type=int, default=20)
    parser.add_argument("--variants", default="sdk,otelbundle,configured")
    parser.add_argument("--answer-ms", type=int, default=150)
    parser.add_argument("--busy-recorder", action="store_true")
    args = parser.parse_args()
    variants = [v.strip() for v in args.variants.split(",") if v.strip()]
    extra = ("--busy-recorder",) if args.busy_recorder else ()
    receiver = OtlpReceiver().start()
    receiver.answer_after(args.answer_ms / 1000)
    results: dict[str, list[StormResult]] = {v: [] for v in variants}
    print(f"load average at start: {os.getloadavg()}", flush=True)
    try:
        for round_ in range(args.runs):
            seed = random.randrange(2**32)
            for variant in variants:
                result = run_storm(receiver, variant, seed=seed, children=args.children, extra_args=extra)
                results[variant].append(result)
                print(f"run {round_ + 1:2d} {result.line()}", flush=True)
    finally:
        receiver.stop()
    print(f"load average at end: {os.getloadavg()}")
    print(f"\nsummary over {args.runs} runs of {args.children} children (per run: min / median / max):")
    for variant, runs in results.items():
        exported = [len(r.exported_any) for r in runs]
        alive = [len(r.exported_alive) for r in runs]
        hung = [len(r.hung) for r in runs]
        full = sum(1 for r in runs if len(r.exported_any) == len(r.children) and not r.hung)
        print(
            f"{variant:>10}: exported {_spread(exported)}, while alive {_spread(alive)}, hung {_spread(hung)}; "
            f"runs with every child exported and none hung: {full}/{len(runs)}; "
            f"parent exporting after the storm: {sum(r.parent_after for r in runs)}/{len(runs)}"
        )


def _spread(values: list[int]) -> str:
    return f"{min(values)} / {statistics.median(values):g} / {max(values)}"


if __name__ == "__main__":
    main()
