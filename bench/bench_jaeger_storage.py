"""What keeping traces on disk costs Jaeger: its embedded Badger store (deploy/jaeger/config.yaml)
against the memory store it replaced, measured in one run, the two interleaved round by round.

Per round, on a fresh Jaeger 2.12.0 (the stack's binary, the shipped config; the memory variant
only swaps the storage backend back to `memory`, max_traces 100000):

1. Ingest: --senders processes post OTLP/HTTP requests of 500 spans (100 five-span traces, fresh
   ids) to its receiver (14318) as fast as it answers, for --seconds. Jaeger's own counters
   give the spans it accepted; /proc gives the CPU it used.
2. Time to query: one span posted, then /api/v3/traces/<id> polled every 20 ms until it answers;
   --samples times.
3. Restart: Jaeger stopped (SIGTERM, timed) and started again; is the last queried trace still
   there? Badger's folder size gives bytes per span.

    python bench/bench_jaeger_storage.py [--rounds 3] [--seconds 10] [--senders 2] [--samples 10]

Jaeger binds its fixed ports (16686, 14317/14318, 14133, 14269): run it where they are free, e.g.
in a network namespace of its own.
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import secrets
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from otelbundle.cli.stack import components as comp  # noqa: E402

OTLP = "http://127.0.0.1:14318/v1/traces"
QUERY = "http://127.0.0.1:16686"
METRICS = "http://127.0.0.1:14269/metrics"
HEALTH = "http://127.0.0.1:14133/status"


def traces_request(traces: int, spans: int = 5) -> bytes:
    from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
    from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue
    from opentelemetry.proto.trace.v1.trace_pb2 import Span

    request = ExportTraceServiceRequest()
    resource_spans = request.resource_spans.add()
    resource_spans.resource.attributes.append(
        KeyValue(key="service.name", value=AnyValue(string_value="bench-jaeger"))
    )
    scope = resource_spans.scope_spans.add()
    now = time.time_ns()
    for _ in range(traces):
        trace_id, parent = secrets.token_bytes(16), b""
        for index in range(spans):
            span_id = secrets.token_bytes(8)
            scope.spans.append(
                Span(
                    trace_id=trace_id,
                    span_id=span_id,
                    parent_span_id=parent,
                    name=f"operation {index}",
                    kind=Span.SPAN_KIND_SERVER if index == 0 else Span.SPAN_KIND_INTERNAL,
                    start_time_unix_nano=now - 5_000_000,
                    end_time_unix_nano=now,
                    attributes=[KeyValue(key="http.route", value=AnyValue(string_value="/orders/{id}"))],
                )
            )
            parent = span_id
    return bytes(request.SerializeToString())


def post(body: bytes) -> None:
    request = urllib.request.Request(OTLP, data=body, headers={"Content-Type": "application/x-protobuf"})
    with urllib.request.urlopen(request, timeout=30) as response:
        response.read()


def sender(seconds: float) -> None:
    body = traces_request(100)  # the same spans again and again would collapse; fresh per request
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        post(body)
        body = traces_request(100)


def get(url: str, timeout: float = 2.0) -> bytes | None:
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:
            return bytes(response.read())
    except (urllib.error.URLError, OSError):
        return None


def counter(name: str) -> float:
    text = (get(METRICS) or b"").decode()
    return sum(
        float(line.rsplit(" ", 1)[1])
        for line in text.splitlines()
        if line.startswith(name) and 'receiver="otlp"' in line
    )


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def variant_config(folder: Path, variant: str) -> Path:
    config = yaml.safe_load((ROOT / "deploy" / "jaeger" / "config.yaml").read_text())
    if variant == "memory":
        backend = config["extensions"]["jaeger_query"]["storage"]["traces"]
        config["extensions"]["jaeger_storage"]["backends"][backend] = {"memory": {"max_traces": 100000}}
    path = folder / f"jaeger-{variant}.yaml"
    path.write_text(yaml.safe_dump(config))
    return path


class Jaeger:
    def __init__(self, binary: str, config: Path, data: Path) -> None:
        self.args = [binary, f"--config={config}"]
        self.env = {**os.environ, "JAEGER_BADGER_DIR": str(data)}
        self.log = data.parent / f"{config.stem}.log"
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        with open(self.log, "ab") as log:
            self.process = subprocess.Popen(self.args, env=self.env, stdout=log, stderr=subprocess.STDOUT)
        end = time.monotonic() + 60
        while get(HEALTH) is None:
            if time.monotonic() > end or self.process.poll() is not None:
                raise RuntimeError(f"Jaeger did not start: see {self.log}")
            time.sleep(0.1)

    def stop(self) -> float:
        assert self.process is not None
        started = time.monotonic()
        self.process.send_signal(signal.SIGTERM)
        self.process.wait(60)
        return time.monotonic() - started


def time_to_query() -> tuple[float, str]:
    body = traces_request(1, spans=1)
    from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

    request = ExportTraceServiceRequest()
    request.ParseFromString(body)
    trace_id = request.resource_spans[0].scope_spans[0].spans[0].trace_id.hex()
    started = time.monotonic()
    post(body)
    while get(f"{QUERY}/api/v3/traces/{trace_id}") is None:
        time.sleep(0.02)
    return time.monotonic() - started, trace_id


def folder_bytes(path: Path) -> int:
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file())


def one_round(jaeger: Jaeger, data: Path, seconds: float, senders: int, samples: int) -> dict[str, Any]:
    jaeger.start()
    assert jaeger.process is not None
    accepted_before, cpu_before = counter("otelcol_receiver_accepted_spans"), cpu_seconds(jaeger.process.pid)
    started = time.monotonic()
    with multiprocessing.Pool(senders) as pool:
        pool.map(sender, [seconds] * senders)
    elapsed = time.monotonic() - started
    accepted = counter("otelcol_receiver_accepted_spans") - accepted_before
    cpu = cpu_seconds(jaeger.process.pid) - cpu_before
    queries = [time_to_query() for _ in range(samples)]
    kept_id = queries[-1][1]
    stop_s = jaeger.stop()
    jaeger.start()
    kept = get(f"{QUERY}/api/v3/traces/{kept_id}") is not None
    jaeger.stop()
    return {
        "spans_per_s": accepted / elapsed,
        "spans_per_cpu_s": accepted / cpu if cpu else float("nan"),
        "query_ms": statistics.median(q for q, _ in queries) * 1000,
        "stop_s": stop_s,
        "kept_after_restart": kept,
        "disk_bytes_per_span": folder_bytes(data) / accepted if accepted else float("nan"),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--senders", type=int, default=2)
    parser.add_argument("--samples", type=int, default=10)
    args = parser.parse_args()
    binary = next(c for c in comp.components(ROOT, ROOT) if c.name == "jaeger").locate(os.environ)
    if binary is None:
        sys.exit("Jaeger 2.12.0 is not built: `otelbundle stack install jaeger` (or make stack)")
    folder = Path(tempfile.mkdtemp(prefix="bench-jaeger-"))
    results: dict[str, list[dict[str, Any]]] = {"memory": [], "badger": []}
    for round_number in range(args.rounds):
        for variant in ("memory", "badger") if round_number % 2 == 0 else ("badger", "memory"):
            data = folder / f"{variant}-{round_number}"
            jaeger = Jaeger(binary, variant_config(folder, variant), data)
            result = one_round(jaeger, data, args.seconds, args.senders, args.samples)
            results[variant].append(result)
            print(
                f"round {round_number + 1} {variant:<6} "
                + ", ".join(f"{k} {v:.4g}" for k, v in result.items())
            )

    def median(variant: str, key: str) -> float:
        return float(statistics.median(r[key] for r in results[variant]))

    print(f"\nJaeger 2.12.0, {args.rounds} interleaved rounds, medians; ratio = badger / memory")
    print("| | memory | badger (shipped) | ratio |\n|---|---|---|---|")
    for key, label in (
        ("spans_per_s", "spans/s accepted"),
        ("spans_per_cpu_s", "spans per CPU-second"),
        ("query_ms", "time to query a posted span (ms)"),
        ("stop_s", "stop (SIGTERM to exit, s)"),
    ):
        memory, badger = median("memory", key), median("badger", key)
        print(f"| {label} | {memory:.4g} | {badger:.4g} | {badger / memory:.2f}x |")
    print(f"| disk per span (bytes) | - | {median('badger', 'disk_bytes_per_span'):.0f} | |")
    for variant in results:
        kept = sum(r["kept_after_restart"] for r in results[variant])
        print(
            f"| a trace still there after a restart ({variant}) | {kept} of {len(results[variant])} rounds |"
        )


if __name__ == "__main__":
    main()
