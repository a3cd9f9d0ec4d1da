"""The scale-out tier measured in one run against real processes (issue #11).

1. Time to Jaeger: one span sent over OTLP/HTTP to 127.0.0.1:4318, then Jaeger polled every
   20 ms until it holds the trace. First with the single collector (`stack up`), then through
   the agent and one gateway (`stack up --gateways 1`). The spans carry ERROR status, so the
   gateway keeps every one; its decision_wait (the time it waits for the rest of a trace) is
   set to --decision-wait for the run and is part of what the scale-out path costs.
2. Gateway throughput: OTLP/gRPC export requests (--spans-per-request spans in 5-span traces, no error,
   fresh trace ids) sent straight to gateway 1 (127.0.0.1:4321) by --senders processes for
   --seconds; the gateway's own counters give the spans it accepted and refused per second
   with the shipped gateway.yaml (tail sampling with its default policy, Jaeger export).

    python bench/bench_gateway.py [--samples 20] [--seconds 15] [--senders 2]

It starts its own stack (temp data dir) on the stack's fixed ports: run it where they are free,
e.g. in a network namespace of its own.
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import re
import secrets
import statistics
import sys
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from otelbundle.cli.backends import BackendError, Backends  # noqa: E402
from otelbundle.cli.stack import Stack  # noqa: E402

GATEWAY_OTLP = "127.0.0.1:4321"
GATEWAY_METRICS = "http://127.0.0.1:8889/metrics"


def span_request(
    trace_id: bytes, spans: int = 1, service: str = "bench-gateway", error: bool = True
) -> bytes:
    """An OTLP ExportTraceServiceRequest: one trace of ``spans`` spans, the root with ERROR
    status when ``error`` (kept by the gateway's `errors` policy, whatever the fraction)."""
    from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
    from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue
    from opentelemetry.proto.trace.v1.trace_pb2 import Span, Status

    request = ExportTraceServiceRequest()
    resource_spans = request.resource_spans.add()
    resource_spans.resource.attributes.append(
        KeyValue(key="service.name", value=AnyValue(string_value=service))
    )
    scope = resource_spans.scope_spans.add()
    now = time.time_ns()
    root = secrets.token_bytes(8)
    for number in range(spans):
        span = scope.spans.add()
        span.trace_id = trace_id
        span.span_id = root if number == 0 else secrets.token_bytes(8)
        if number:
            span.parent_span_id = root
        span.name = "bench operation"
        span.kind = Span.SPAN_KIND_SERVER if number == 0 else Span.SPAN_KIND_INTERNAL
        span.start_time_unix_nano = now - 2_000_000
        span.end_time_unix_nano = now
        if number == 0 and error:
            span.status.code = Status.STATUS_CODE_ERROR
    return bytes(request.SerializeToString())


def time_to_jaeger(backends: Backends, samples: int) -> list[float]:
    """Seconds from an OTLP/HTTP export to 4318 until Jaeger returns the trace, per sample."""
    seen: list[float] = []
    for _ in range(samples):
        trace_id = secrets.token_bytes(16)
        body = span_request(trace_id)
        request = urllib.request.Request(
            "http://127.0.0.1:4318/v1/traces",
            data=body,
            headers={"Content-Type": "application/x-protobuf"},
            method="POST",
        )
        started = time.monotonic()
        with urllib.request.urlopen(request, timeout=10):
            pass
        while time.monotonic() - started < 60:
            try:
                if backends.trace(trace_id.hex()):
                    break
            except BackendError:
                pass
            time.sleep(0.02)
        else:
            raise SystemExit(f"trace {trace_id.hex()} not in Jaeger after 60 s")
        seen.append(time.monotonic() - started)
    return seen


def counter(text: str, name: str) -> float:
    """Sum of every sample of ``name`` (any labels, with or without _total) in a text exposition."""
    total = 0.0
    for line in text.splitlines():
        if re.match(rf"{re.escape(name)}(_total)?(\{{|\s)", line):
            total += float(line.rsplit(" ", 1)[1])
    return total


def gateway_counters() -> dict[str, float]:
    with urllib.request.urlopen(GATEWAY_METRICS, timeout=5) as response:
        text = response.read().decode()
    return {
        "accepted": counter(text, "otelcol_receiver_accepted_spans"),
        "refused": counter(text, "otelcol_receiver_refused_spans"),
        "sent": counter(text, "otelcol_exporter_sent_spans"),
        "cpu": counter(text, "otelcol_process_cpu_seconds"),
        # Traces evicted (num_traces full) before their decision_wait ran out: not sampled, lost.
        "early": counter(text, "otelcol_processor_tail_sampling_sampling_trace_dropped_too_early"),
    }


def sender(start_at: float, end_at: float, spans_per_request: int, rate: float, results: Any) -> None:
    """One sending process: builds its requests, then exports them to gateway 1 from
    ``start_at`` until ``end_at`` (wall clock) at ``rate`` spans/s (0: as fast as it can);
    puts (ok, failed)."""
    import grpc
    from opentelemetry.proto.collector.trace.v1 import trace_service_pb2, trace_service_pb2_grpc

    bodies = []
    for _ in range(32):  # fresh trace ids per request, built before the clock starts
        request = trace_service_pb2.ExportTraceServiceRequest()
        for _ in range(spans_per_request // 5):
            body = span_request(secrets.token_bytes(16), spans=5, service="bench-load", error=False)
            request.MergeFromString(body)
        bodies.append(request)
    ok = failed = 0
    with grpc.insecure_channel(GATEWAY_OTLP) as channel:
        stub = trace_service_pb2_grpc.TraceServiceStub(channel)
        time.sleep(max(0.0, start_at - time.time()))
        number = 0
        while time.time() < end_at:
            if rate:
                time.sleep(max(0.0, start_at + number * spans_per_request / rate - time.time()))
            try:
                stub.Export(bodies[number % len(bodies)], timeout=10)
                ok += 1
            except grpc.RpcError:
                failed += 1
            number += 1
    results.put((ok, failed))


def blast(
    seconds: float, senders: int, spans_per_request: int, rate: float
) -> tuple[int, int, dict[str, float], float]:
    """``senders`` processes export to gateway 1 for ``seconds`` at ``rate`` spans/s in all (0: as
    fast as they can): requests ok and failed, and the gateway's counters over that window."""
    context = multiprocessing.get_context("spawn")
    results = context.Queue()
    start_at = time.time() + 6  # time for every process to start and build its requests
    end_at = start_at + seconds
    processes = [
        context.Process(target=sender, args=(start_at, end_at, spans_per_request, rate / senders, results))
        for _ in range(senders)
    ]
    for process in processes:
        process.start()
    time.sleep(max(0.0, start_at - time.time()))
    before = gateway_counters()
    time.sleep(max(0.0, end_at - time.time()))
    after = gateway_counters()
    totals = [results.get(timeout=60) for _ in processes]
    for process in processes:
        process.join()
    delta = {key: after[key] - before[key] for key in after}
    return sum(t[0] for t in totals), sum(t[1] for t in totals), delta, seconds


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--samples", type=int, default=20)
    parser.add_argument("--seconds", type=float, default=15.0)
    parser.add_argument("--senders", type=int, default=2)
    parser.add_argument("--spans-per-request", type=int, default=500)
    parser.add_argument(
        "--decision-wait", default="1s", help="gateway decision_wait for the latency part (default 1s)"
    )
    parser.add_argument(
        "--rates",
        default="20000,40000,0",
        help="spans/s offered to the gateway, one phase each; 0 = as fast as the senders can (default 20000,40000,0)",
    )
    args = parser.parse_args()

    backends = Backends()
    env = {**os.environ, "OTELCOL_SAMPLING_DECISION_WAIT": args.decision_wait}
    data_dir = Path(tempfile.mkdtemp(prefix="bench-gateway-"))
    quiet = lambda _: None  # noqa: E731
    print(f"cpus: {os.cpu_count()}, data in {data_dir}")
    stack = Stack(data_dir=data_dir, config_root=ROOT, env=env, gateways=0, say=quiet)
    try:
        stack.up(timeout=120)
        time_to_jaeger(backends, 3)  # warm-up: connections, Jaeger's first write
        direct = time_to_jaeger(backends, args.samples)
        stack = Stack(data_dir=data_dir, config_root=ROOT, env=env, gateways=1, say=quiet)
        stack.up(timeout=120)
        time_to_jaeger(backends, 3)
        hop = time_to_jaeger(backends, args.samples)
        # Throughput with the shipped gateway.yaml as it is: its default decision_wait.
        gateway = Stack(data_dir=data_dir, config_root=ROOT, env=dict(os.environ), gateways=1, say=quiet)
        gateway.stop_component(gateway.component("otelcol-gateway-1"))
        gateway.start_component(gateway.component("otelcol-gateway-1"))
        phases = []
        for rate in (float(r) for r in args.rates.split(",")):
            before = gateway_counters()
            ok, failed, counted, elapsed = blast(args.seconds, args.senders, args.spans_per_request, rate)
            time.sleep(15)  # decision_wait + batch: the gateway decides and exports what it got
            settled = gateway_counters()
            counted["sent"] = settled["sent"] - before["sent"]
            counted["early"] = settled["early"] - before["early"]
            phases.append((rate, ok, failed, counted, elapsed))
    finally:
        stack.down()

    d50, h50 = statistics.median(direct), statistics.median(hop)
    print(f"time to Jaeger, median of {args.samples} (p95 of each in brackets):")
    print(
        f"  single collector (4318 -> Jaeger):            {d50 * 1000:7.0f} ms  [{_p95(direct) * 1000:.0f} ms]"
    )
    print(
        f"  agent -> gateway -> Jaeger (decision_wait {args.decision_wait}): "
        f"{h50 * 1000:7.0f} ms  [{_p95(hop) * 1000:.0f} ms]"
    )
    print(f"  ratio scale-out / single: {h50 / d50:.1f}x; added: {(h50 - d50) * 1000:.0f} ms")
    print(
        f"one gateway, shipped gateway.yaml (decision_wait 10s, num_traces 100000), ordinary 5-span traces, "
        f"{args.senders} sender processes x {args.spans_per_request} spans/request, {args.seconds:.0f} s per rate:"
    )
    for rate, ok, failed, counted, elapsed in phases:
        accepted, cpu = counted["accepted"], counted["cpu"]
        offered = f"{rate:,.0f} spans/s" if rate else "as fast as possible"
        print(
            f"  offered {offered:>20}: accepted {accepted / elapsed:9,.0f} spans/s, refused {counted['refused']:,.0f}, "
            f"evicted undecided {counted['early']:,.0f} traces, kept {counted['sent'] / accepted if accepted else 0:.1%}; "
            f"requests {ok} ok / {failed} failed; gateway CPU {cpu / elapsed:.2f} cores "
            f"({accepted / cpu if cpu else 0:,.0f} spans per CPU-second)"
        )
    return 0


def _p95(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))]


if __name__ == "__main__":
    raise SystemExit(main())
