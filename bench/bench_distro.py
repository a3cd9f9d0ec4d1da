"""Per-request cost of otelbundle vs no instrumentation vs the upstream distro, and collector up vs down.

One run starts the inventory example (Flask + SQLite) in each mode and drives
the same request loop against it, in interleaved rounds (the modes in a new
order each round, the same orders in every run) so machine drift, and whatever
a mode leaves behind for the one after it, hits every mode alike. It prints p50/p99 latency per mode and the ratios the issue
asks for; exit times after SIGTERM show the bounded flush.

    python bench/bench_distro.py [--requests 400] [--rounds 3] [--modes otelbundle,upstream-distro,...]
                                 [--env NAME=VALUE ...]

``--modes`` runs only the named modes (uninstrumented is always run); ``--env``
adds a variable to every otelbundle mode, to measure a setting against the
upstream distro in the same run (e.g. ``--env OTEL_BSP_MAX_EXPORT_BATCH_SIZE=128``);
``--variant NAME:VAR=VALUE,...`` adds an otelbundle mode with its own variables.
Against the upstream distro it also prints the quartiles of the per-round
ratios and how far the pooled ratio moves when the rounds are resampled (the
p99 needs many rounds: docs/performance.md).

Needs the `bench` extra (opentelemetry-distro) for the upstream comparison.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import random
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from harness.apps import BIN, clean_env, free_port  # noqa: E402

APP = str(ROOT / "examples" / "inventory" / "app.py")
WARM_UP = 50  # requests per mode and round before the measured ones


@dataclass(frozen=True)
class Receiver:
    """The in-process OTLP receiver the tests use (harness/otlp_receiver.py), run in a process of its own.

    In the driver's process its decoding would take the driver's GIL while the
    driver times requests: modes that export more often would look slower for
    it. A real collector runs apart from the application and its clients too.
    """

    process: subprocess.Popen[str]
    http_endpoint: str
    grpc_endpoint: str

    @classmethod
    def start(cls) -> Receiver:
        code = (
            f"import json, sys, time; sys.path.insert(0, {str(ROOT)!r})\n"
            "from harness.otlp_receiver import OtlpReceiver\n"
            "receiver = OtlpReceiver().start()\n"
            "print(receiver.http_endpoint, receiver.grpc_endpoint, flush=True)\n"
            "for _ in sys.stdin:  # a line from the driver: what arrived since the last one\n"
            "    with receiver._changed:\n"
            "        records = [*receiver.spans, *receiver.logs]\n"
            "        counts = {'spans': len(receiver.spans), 'logs': len(receiver.logs),\n"
            "                  'distros': sorted({str(r.resource.get('telemetry.distro.name', '(none)')) for r in records})}\n"
            "    receiver.clear()\n"
            "    print(json.dumps(counts), flush=True)\n"
        )
        process = subprocess.Popen(
            [sys.executable, "-c", code], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
        )
        assert process.stdout is not None
        http_endpoint, grpc_endpoint = process.stdout.readline().split()
        return cls(process, http_endpoint, grpc_endpoint)

    def received(self) -> dict[str, Any]:
        """Spans, log records and the ``telemetry.distro.name`` of their resources since the last call.

        Called once a mode's app has exited: what it sent is what identifies it (a mode
        that fell back to the plain SDK, or a baseline that runs our code, shows here).
        """
        assert self.process.stdin is not None and self.process.stdout is not None
        self.process.stdin.write("counts\n")
        self.process.stdin.flush()
        return dict(json.loads(self.process.stdout.readline()))

    def stop(self) -> None:
        assert self.process.stdin is not None
        self.process.stdin.close()
        self.process.wait(30)


def start(
    mode: str,
    receiver: Receiver,
    blackhole_port: int,
    db: str,
    extra_env: dict[str, str] | None = None,
    variants: dict[str, dict[str, str]] | None = None,
) -> tuple[subprocess.Popen[bytes], int]:
    port = free_port()
    env = clean_env({"PORT": str(port), "INVENTORY_DB": db, "OTEL_SERVICE_NAME": "inventory"})
    if mode.startswith("otelbundle"):
        env.update(extra_env or {})
    command = [sys.executable, APP]
    if mode != "uninstrumented":
        command = [str(BIN / "opentelemetry-instrument"), *command]
    if mode in (variants or {}):  # otelbundle (OTLP/HTTP) with the variant's variables
        env.update(OTEL_PYTHON_DISTRO="otelbundle", OTEL_EXPORTER_OTLP_ENDPOINT=receiver.http_endpoint)
        env.update((variants or {})[mode])
    elif mode == "otelbundle":
        env.update(OTEL_PYTHON_DISTRO="otelbundle", OTEL_EXPORTER_OTLP_ENDPOINT=receiver.http_endpoint)
    elif mode == "otelbundle-grpc":  # isolates the exporter protocol from the rest of the distro
        env.update(
            OTEL_PYTHON_DISTRO="otelbundle",
            OTEL_EXPORTER_OTLP_PROTOCOL="grpc",
            OTEL_EXPORTER_OTLP_ENDPOINT=receiver.grpc_endpoint,
        )
    elif mode == "upstream-distro":
        env.update(
            OTEL_PYTHON_DISTRO="distro",
            OTEL_PYTHON_CONFIGURATOR="configurator",
            OTEL_EXPORTER_OTLP_ENDPOINT=receiver.grpc_endpoint,  # its default protocol is gRPC
            OTEL_EXPORTER_OTLP_INSECURE="true",
        )
    elif mode == "otelbundle-collector-down":
        env.update(
            OTEL_PYTHON_DISTRO="otelbundle", OTEL_EXPORTER_OTLP_ENDPOINT=f"http://127.0.0.1:{free_port()}"
        )
    elif mode == "otelbundle-collector-blackholed":
        env.update(
            OTEL_PYTHON_DISTRO="otelbundle", OTEL_EXPORTER_OTLP_ENDPOINT=f"http://127.0.0.1:{blackhole_port}"
        )
    process = subprocess.Popen(
        command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True
    )
    url = f"http://127.0.0.1:{port}/healthz"
    for _ in range(300):
        try:
            urllib.request.urlopen(url, timeout=1).close()
            return process, port
        except OSError:
            time.sleep(0.1)
    process.kill()
    raise SystemExit(f"{mode}: app did not start")


def drive(port: int, count: int) -> list[float]:
    url = f"http://127.0.0.1:{port}/stock/APPLE"
    latencies = []
    for _ in range(count):
        started = time.perf_counter()
        urllib.request.urlopen(url, timeout=10).read()
        latencies.append(time.perf_counter() - started)
    return latencies


def stop(process: subprocess.Popen[bytes]) -> float:
    started = time.perf_counter()
    os.killpg(process.pid, signal.SIGTERM)
    process.wait(60)
    return time.perf_counter() - started


def identity_problems(mode: str, distros: set[str]) -> list[str]:
    """Why ``mode``'s telemetry says it did not run what the mode is named after (empty: it did).

    The otelbundle modes that reach the receiver must come from otelbundle's distro, the
    upstream one from the plain SDK (``(none)``: opentelemetry-distro sets no
    ``telemetry.distro.name``).
    """
    if mode in ("uninstrumented", "otelbundle-collector-down", "otelbundle-collector-blackholed"):
        return [f"the receiver got telemetry from {mode}"] if distros else []
    if not distros:  # the upstream distro loses what it has not exported at SIGTERM: short runs
        return [] if mode == "upstream-distro" else [f"{mode}: nothing reached the receiver"]
    if mode.startswith("otelbundle") and distros != {"otelbundle"}:
        return [f"{mode} is not otelbundle's distro: {sorted(distros)}"]
    if mode == "upstream-distro" and "otelbundle" in distros:
        return ["the upstream distro's telemetry says otelbundle"]
    return []


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def quartiles(values: list[float]) -> tuple[float, float, float]:
    if len(values) < 2:
        return values[0], values[0], values[0]
    q1, median, q3 = statistics.quantiles(values, n=4)
    return q1, median, q3


def spread(by_round: dict[str, list[list[float]]], a: str, b: str, q: float, resamples: int) -> str:
    """How far the ratio of mode ``a``'s to mode ``b``'s percentile ``q`` can be trusted.

    Per-round ratios (each round runs both modes back to back, so load hits both): their
    quartiles. The ratio of the pooled percentiles: its 2.5-97.5 % interval when the
    rounds are resampled with replacement (the same rounds for both modes), which says
    how much another run of this many rounds could differ.
    """
    rounds_a, rounds_b = by_round[a], by_round[b]
    per_round = [pct(x, q) / pct(y, q) for x, y in zip(rounds_a, rounds_b, strict=True)]
    q1, median, q3 = quartiles(per_round)
    rng = random.Random(26)
    ratios = []
    count = len(rounds_a)
    for _ in range(resamples):
        pick = [rng.randrange(count) for _ in range(count)]
        ratios.append(
            pct([v for i in pick for v in rounds_a[i]], q) / pct([v for i in pick for v in rounds_b[i]], q)
        )
    cuts = statistics.quantiles(ratios, n=40)
    return f"per round {median:.2f} ({q1:.2f}-{q3:.2f}); pooled, rounds resampled: 95 % in {cuts[0]:.2f}-{cuts[-1]:.2f}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=400, help="measured requests per mode per round")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--modes", help="comma-separated modes to run besides uninstrumented (default: all)")
    parser.add_argument(
        "--env", action="append", default=[], metavar="NAME=VALUE", help="a variable for the otelbundle modes"
    )
    parser.add_argument(
        "--variant",
        action="append",
        default=[],
        metavar="NAME:VAR=VALUE,...",
        help="one more mode, otelbundle:NAME: otelbundle (OTLP/HTTP) with these variables",
    )
    parser.add_argument("--save", metavar="PATH", help="write every latency, by mode and round, as JSON")
    parser.add_argument(
        "--resamples", type=int, default=1000, help="bootstrap resamples of the rounds for the ratios' spread"
    )
    args = parser.parse_args()
    extra_env = dict(item.split("=", 1) for item in args.env)
    modes = [
        "uninstrumented",
        "otelbundle",
        "otelbundle-grpc",
        "otelbundle-collector-down",
        "otelbundle-collector-blackholed",
    ]
    if importlib.util.find_spec("opentelemetry.distro") is not None:
        modes.insert(3, "upstream-distro")
    else:
        print("(opentelemetry-distro not installed: pip install -e '.[bench]' for the upstream comparison)")
    variants: dict[str, dict[str, str]] = {}
    for spec in args.variant:
        name, _, assignments = spec.partition(":")
        variants[f"otelbundle:{name}"] = dict(a.split("=", 1) for a in assignments.split(",") if a)
    if args.modes:
        wanted = {m.strip() for m in args.modes.split(",")}
        unknown = wanted - set(modes)
        if unknown:
            raise SystemExit(f"unknown or unavailable modes: {', '.join(sorted(unknown))}")
        modes = [m for m in modes if m == "uninstrumented" or m in wanted]
    modes += list(variants)
    receiver = Receiver.start()
    blackhole = socket.socket()
    blackhole.bind(("127.0.0.1", 0))
    blackhole.listen(1024)  # accepts connections at the kernel, never answers
    results: dict[str, list[float]] = {m: [] for m in modes}
    by_round: dict[str, list[list[float]]] = {m: [] for m in modes}
    exits: dict[str, list[float]] = {m: [] for m in modes}
    telemetry: dict[str, dict[str, Any]] = {m: {"spans": 0, "logs": 0, "distros": set()} for m in modes}
    with tempfile.TemporaryDirectory() as tmp:
        order_rng = random.Random(26)  # the same orders in every run of this many rounds
        for round_number in range(args.rounds):
            # A new order each round: a mode that always followed another would always meet what
            # that one left behind (the receiver still decoding, a warm or evicted page cache).
            for mode in order_rng.sample(modes, len(modes)):
                process, port = start(
                    mode, receiver, blackhole.getsockname()[1], f"{tmp}/{mode}.db", extra_env, variants
                )
                drive(port, WARM_UP)  # warm-up: imports, connection pools, JIT-free but cache-warm
                latencies = drive(port, args.requests)
                results[mode].extend(latencies)
                by_round[mode].append(latencies)
                exits[mode].append(stop(process))
                got = receiver.received()
                telemetry[mode]["spans"] += got["spans"]
                telemetry[mode]["logs"] += got["logs"]
                telemetry[mode]["distros"].update(got["distros"])
                print(f"round {round_number + 1}/{args.rounds} {mode}: done", file=sys.stderr, flush=True)
    receiver.stop()
    blackhole.close()
    if args.save:
        Path(args.save).write_text(json.dumps({"env": extra_env, "by_round": by_round}))

    print(f"\nrequests per mode: {args.requests * args.rounds} (GET /stock/<sku>, Flask dev server + SQLite)")
    print(f"load average at the end: {' '.join(Path('/proc/loadavg').read_text().split()[:3])}")
    if extra_env:
        print(f"otelbundle modes with: {' '.join(f'{k}={v}' for k, v in extra_env.items())}")
    print(f"{'mode':<34}{'p50 ms':>9}{'p99 ms':>9}{'mean ms':>9}{'exit s (max)':>14}")
    for mode in modes:
        values = results[mode]
        print(
            f"{mode[:33]:<34}{pct(values, 0.5) * 1e3:>9.3f}{pct(values, 0.99) * 1e3:>9.3f}"
            f"{statistics.fmean(values) * 1e3:>9.3f}{max(exits[mode]):>14.2f}"
        )

    print("\nwhat each mode sent (per request driven, warm-up included; telemetry.distro.name):")
    driven = (args.requests + WARM_UP) * args.rounds
    for mode in modes:
        sent = telemetry[mode]
        print(
            f"  {mode[:33]:<34}{sent['spans'] / driven:5.2f} spans {sent['logs'] / driven:5.2f} log records  "
            f"{', '.join(sorted(sent['distros'])) or '-'}"
        )
        for problem in identity_problems(mode, sent["distros"]):
            print(f"    WARNING: {problem}")

    def ratio(a: str, b: str, q: float) -> str:
        return f"{pct(results[a], q) / pct(results[b], q):.2f}" if a in results and b in results else "n/a"

    print("\nratios (p50 / p99):")
    print(
        f"  otelbundle / uninstrumented          {ratio('otelbundle', 'uninstrumented', 0.5)} / {ratio('otelbundle', 'uninstrumented', 0.99)}"
    )
    print(
        f"  otelbundle / upstream distro         {ratio('otelbundle', 'upstream-distro', 0.5)} / {ratio('otelbundle', 'upstream-distro', 0.99)}"
    )
    print(
        f"  otelbundle over gRPC / upstream      {ratio('otelbundle-grpc', 'upstream-distro', 0.5)} / {ratio('otelbundle-grpc', 'upstream-distro', 0.99)}"
    )
    print(
        f"  collector down / up (otelbundle)     {ratio('otelbundle-collector-down', 'otelbundle', 0.5)} / {ratio('otelbundle-collector-down', 'otelbundle', 0.99)}"
    )
    print(
        f"  collector blackholed / up            {ratio('otelbundle-collector-blackholed', 'otelbundle', 0.5)} / {ratio('otelbundle-collector-blackholed', 'otelbundle', 0.99)}"
    )
    for name, variables in variants.items():
        print(f"  {name} ({' '.join(f'{k}={v}' for k, v in variables.items())}):")
        print(
            f"    / upstream distro                  {ratio(name, 'upstream-distro', 0.5)} / {ratio(name, 'upstream-distro', 0.99)}"
        )
        print(
            f"    / otelbundle                       {ratio(name, 'otelbundle', 0.5)} / {ratio(name, 'otelbundle', 0.99)}"
        )
    if args.rounds >= 2 and args.resamples > 0 and "upstream-distro" in results:
        print(f"\nagainst the upstream distro ({args.rounds} rounds; {args.resamples} resamples):")
        for name in [m for m in modes if m.startswith("otelbundle") and m in results]:
            for q, label in ((0.5, "p50"), (0.99, "p99")):
                print(
                    f"  {name[:33]:<34}{label}  {spread(by_round, name, 'upstream-distro', q, args.resamples)}"
                )


if __name__ == "__main__":
    main()
