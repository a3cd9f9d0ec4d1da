"""Cost of one ``logging`` call under the distro vs a plain FileHandler vs no handler, in one run.

A newcomer's script under ``opentelemetry-instrument`` (the otelbundle distro,
its defaults: OTLP/HTTP logs on, to the in-process receiver of
harness) logs three kinds of lines:

* ``info``: ``logger.info("served GET /stock/%s in %d ms", sku, ms)``;
* ``extra``: the same with ``extra=`` of 3 plain values (str, int, float);
* ``exception``: ``logger.exception(...)`` for an exception raised 4 frames deep.

Each kind goes to three loggers in the same process, one chunk of calls each,
interleaved in random order in every round: ``distro`` propagates to the root
logger where the distro put its OTLP handler; ``file`` has a
``logging.FileHandler`` with a timestamped format and does not propagate;
``none`` has only a ``NullHandler``. Calls run inside an active span (a request
being served) unless ``--outside-span``.

Per call it reports the caller's wall time and the caller thread's CPU time
(what the application pays on its own thread) and the CPU time of all threads
of the process with the export flushed before the clock stops (what the
machine pays, export included); medians and quartiles over the rounds, then
the ratios distro / file and distro / none computed per round. For the distro
rows it also splits that CPU: the caller's calls, the translation and the
export (on their threads, or in the flush at the end of the chunk), the rest. The caller's
wall time also holds the time it waited for the GIL while the export thread
ran (the SDK exports as soon as 512 records are queued, so during a chunk);
its CPU time does not. Every record
logged to the distro logger must reach the receiver: the count is checked.

    python bench/bench_logging.py [--calls 1000] [--rounds 15] [--outside-span] [--config FILE] [--env NAME=VALUE]

``--config`` (a diagnostic) runs the child with that ``otelbundle.yaml``
(``OTELBUNDLE_CONFIG``), e.g. alert rules, whose log record processors then
take part in every distro row's translation. ``--env`` sets a variable in the
child (the driver otherwise passes none of its ``OTEL_*``), e.g. another log
batch size.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import logging
import os
import random
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

KINDS = ("info", "extra", "exception")
HANDLERS = ("distro", "file", "none")
FILE_FORMAT = "%(asctime)s %(levelname)s [%(name)s] %(message)s"
# caller's thread: wall time and CPU time of the logging calls; all threads: process CPU time
# from the first call until the export of the chunk is flushed.
MEASURES = ("caller_wall", "caller_cpu", "process_cpu")
COLUMNS = ("caller wall", "caller CPU", "all threads CPU")
# Where the distro rows' CPU goes: the caller's logging calls; translation (on the translator
# thread, or in the flush at the end of a chunk, which first translates what is still queued);
# export (on the log export thread, or in the rest of the flush); the rest of the process
# (span export, metrics, thread switches).
THREADS = {"otelbundle-log-translator": "translation", "otelbundle-log-export": "export"}
SPLIT = ("caller", "translation", "export", "other")


# ---- the instrumented child -------------------------------------------------
def _fail(depth: int, order: int) -> None:
    if depth:
        _fail(depth - 1, order)
    raise ValueError(f"upstream refused order {order}")


def _calls(kind: str, logger: logging.Logger) -> Callable[[int], None]:
    """A function logging ``count`` lines of ``kind`` to ``logger``."""
    if kind == "info":

        def run(count: int) -> None:
            for i in range(count):
                logger.info("served GET /stock/%s in %d ms", "APPLE", i % 7)

    elif kind == "extra":

        def run(count: int) -> None:
            for i in range(count):
                logger.info(
                    "served GET /stock/%s in %d ms",
                    "APPLE",
                    i % 7,
                    extra={"order_id": "o-1234", "items": 3, "amount": 9.99},
                )

    else:

        def run(count: int) -> None:
            try:
                _fail(3, count)
            except ValueError:
                for i in range(count):
                    logger.exception("reserve failed for order %d", i)

    return run


def thread_cpu() -> dict[str, float]:
    """CPU seconds of each named thread of this process, now."""
    clocks: dict[str, float] = {}
    for thread in threading.enumerate():
        try:
            clock = time.pthread_getcpuclockid(thread.ident)  # type: ignore[arg-type]
            clocks[thread.name] = time.clock_gettime(clock)
        except (AttributeError, OSError, TypeError):  # gone meanwhile, or no per-thread clocks here
            continue
    return clocks


def child(result_path: str, calls: int, rounds: int, outside_span: bool, seed: int) -> None:
    from opentelemetry import trace
    from opentelemetry._logs import get_logger_provider

    logger_provider: Any = get_logger_provider()
    flush_distro = getattr(logger_provider, "force_flush", None)
    if flush_distro is None or not logging.getLogger().handlers:
        raise SystemExit("bench child: not running under opentelemetry-instrument with OTLP logs on")
    tracer = trace.get_tracer("bench_logging")
    tmp = tempfile.mkdtemp(prefix="bench_logging_")
    loggers: dict[str, logging.Logger] = {}
    for name in HANDLERS:
        logger = logging.getLogger(f"bench.{name}")
        logger.setLevel(logging.INFO)
        if name == "file":
            handler: logging.Handler = logging.FileHandler(os.path.join(tmp, "app.log"))
            handler.setFormatter(logging.Formatter(FILE_FORMAT))
            logger.addHandler(handler)
            logger.propagate = False
        elif name == "none":
            logger.addHandler(logging.NullHandler())
            logger.propagate = False
        loggers[name] = logger

    from otelbundle.sdk.logs import deferred

    def flush(name: str) -> float:
        """Flush the distro's logs; the CPU seconds of the flush that went to translation."""
        if name != "distro":
            return 0.0
        started = time.thread_time()
        queued = deferred.current()
        if queued is not None:
            queued.drain()  # what the provider's flush does first (its first log record processor)
        translated = time.thread_time() - started
        flush_distro()
        return translated

    variants = [(kind, name) for kind in KINDS for name in HANDLERS]
    results: dict[str, dict[str, list[float]]] = {
        f"{kind}/{name}": {m: [] for m in MEASURES} for kind, name in variants
    }
    split: dict[str, dict[str, list[float]]] = {kind: {part: [] for part in SPLIT} for kind in KINDS}
    rng = random.Random(seed)
    emitted = 0
    for round_number in range(rounds + 1):  # round 0 warms up and is not kept
        order = list(variants)
        rng.shuffle(order)
        for kind, name in order:
            run = _calls(kind, loggers[name])
            flush(name)
            threads_started = thread_cpu()
            cpu_started = time.process_time()
            with (
                contextlib.nullcontext() if outside_span else tracer.start_as_current_span("GET /stock/<sku>")
            ):
                thread_started = time.thread_time()
                wall_started = time.perf_counter()
                run(calls)
                wall = time.perf_counter() - wall_started
                thread_cpu_used = time.thread_time() - thread_started
            flush_started = time.thread_time()
            flush_translation = flush(name)
            flush_export = time.thread_time() - flush_started - flush_translation
            process_cpu = time.process_time() - cpu_started
            threads_ended = thread_cpu()
            if name == "distro":
                emitted += calls
            if round_number == 0:
                continue
            measured = results[f"{kind}/{name}"]
            measured["caller_wall"].append(wall * 1e6 / calls)
            measured["caller_cpu"].append(thread_cpu_used * 1e6 / calls)
            measured["process_cpu"].append(process_cpu * 1e6 / calls)
            if name == "distro":
                parts = {"caller": thread_cpu_used, "translation": flush_translation, "export": flush_export}
                for thread_name, part in THREADS.items():
                    parts[part] += threads_ended.get(thread_name, 0.0) - threads_started.get(thread_name, 0.0)
                parts["other"] = process_cpu - sum(parts.values())
                for part, seconds in parts.items():
                    split[kind][part].append(seconds * 1e6 / calls)
    Path(result_path).write_text(json.dumps({"results": results, "split": split, "emitted": emitted}))


# ---- the driver ---------------------------------------------------------------
def quartiles(values: list[float]) -> tuple[float, float, float]:
    q1, median, q3 = statistics.quantiles(sorted(values), n=4)
    return q1, median, q3


def describe(values: list[float], digits: int = 1) -> str:
    q1, median, q3 = quartiles(values)
    return f"{median:.{digits}f} ({q1:.{digits}f}-{q3:.{digits}f})"


def loadavg() -> str:
    try:
        return " ".join(Path("/proc/loadavg").read_text().split()[:3])
    except OSError:
        return "n/a"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=1000, help="calls per variant per round")
    parser.add_argument("--rounds", type=int, default=15)
    parser.add_argument("--outside-span", action="store_true", help="log with no active span")
    parser.add_argument("--seed", type=int, default=26)
    parser.add_argument("--config", type=Path, help="run the child with this otelbundle.yaml (a diagnostic)")
    parser.add_argument(
        "--env",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="set a variable in the child, e.g. OTEL_BLRP_MAX_EXPORT_BATCH_SIZE=2048 (a diagnostic; repeatable)",
    )
    parser.add_argument("--child", metavar="RESULT_PATH", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args.child, args.calls, args.rounds, args.outside_span, args.seed)
        return

    from harness.apps import BIN, clean_env
    from harness.otlp_receiver import OtlpReceiver

    receiver = OtlpReceiver().start()
    load_before = loadavg()
    with tempfile.TemporaryDirectory() as tmp:
        result_path = os.path.join(tmp, "result.json")
        env = clean_env({"OTEL_PYTHON_DISTRO": "otelbundle", "OTEL_SERVICE_NAME": "bench-logging"})
        env["OTEL_EXPORTER_OTLP_ENDPOINT"] = receiver.http_endpoint
        if args.config is not None:
            env["OTELBUNDLE_CONFIG"] = str(args.config.resolve())
        for setting in args.env:
            name, equals, value = setting.partition("=")
            if not equals or not name:
                parser.error(f"--env {setting!r}: expected NAME=VALUE")
            env[name] = value
        command = [
            str(BIN / "opentelemetry-instrument"),
            sys.executable,
            __file__,
            "--child",
            result_path,
            "--calls",
            str(args.calls),
            "--rounds",
            str(args.rounds),
            "--seed",
            str(args.seed),
            *(["--outside-span"] if args.outside_span else []),
        ]
        started = time.monotonic()
        completed = subprocess.run(command, env=env, capture_output=True, text=True, timeout=3600)
        elapsed = time.monotonic() - started
        if completed.returncode != 0:
            receiver.stop()
            raise SystemExit(f"bench child failed ({completed.returncode}):\n{completed.stderr}")
        data = json.loads(Path(result_path).read_text())
    with contextlib.suppress(AssertionError):  # a shortfall is reported below
        receiver.wait_for(
            lambda r: sum(x.scope == "bench.distro" for x in r.logs) >= data["emitted"], timeout=10
        )
    distro_logs = [x for x in receiver.logs if x.scope == "bench.distro"]
    receiver.stop()
    results: dict[str, dict[str, list[float]]] = data["results"]

    print(
        f"python {sys.version.split()[0]}; {os.cpu_count()} CPUs; load average {load_before} before, "
        f"{loadavg()} after ({elapsed:.0f} s)"
    )
    print(
        f"{args.rounds} rounds x {args.calls} calls per variant, variants in random order each round, "
        f"{'no active span' if args.outside_span else 'inside an active span'}"
        + (f", OTELBUNDLE_CONFIG={args.config}" if args.config is not None else "")
        + "".join(f", {setting}" for setting in args.env)
    )
    print(
        f"records logged to the distro logger: {data['emitted']}, received by the OTLP receiver: "
        f"{len(distro_logs)}"
        + ("" if len(distro_logs) >= data["emitted"] else "  <- LOST: the distro rows miss their export cost")
    )
    if not args.outside_span and not all(x.trace_id for x in distro_logs):
        print("  WARNING: records logged inside a span arrived without its trace id")
    width = 25
    print("\nper call, microseconds: median (quartiles) over the rounds")
    print(f"{'variant':<20}" + "".join(f"{label:>{width}}" for label in COLUMNS))
    for kind in KINDS:
        for name in HANDLERS:
            row = results[f"{kind}/{name}"]
            print(f"{kind + ' / ' + name:<20}" + "".join(f"{describe(row[m]):>{width}}" for m in MEASURES))
    print("\nthe distro rows' CPU, microseconds per call: median (quartiles)")
    print(f"{'line':<20}" + "".join(f"{part:>22}" for part in SPLIT))
    for kind in KINDS:
        parts = data["split"][kind]
        print(f"{kind:<20}" + "".join(f"{describe(parts[part]):>22}" for part in SPLIT))
    print("\nratios computed per round: median (quartiles)")
    print(f"{'':<20}" + "".join(f"{label:>{width}}" for label in COLUMNS))
    for other in ("none", "file"):
        for kind in KINDS:
            distro, base = results[f"{kind}/distro"], results[f"{kind}/{other}"]
            cells = [describe([a / b for a, b in zip(distro[m], base[m], strict=True)], 2) for m in MEASURES]
            print(f"{kind + ': distro / ' + other:<20}" + "".join(f"{c:>{width}}" for c in cells))


if __name__ == "__main__":
    main()
