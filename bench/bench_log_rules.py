"""Time from ERROR log records to a log rule's alert at a webhook, in a real application.

The application (harness/programs/log_errors.py) runs under
opentelemetry-instrument with a log rule whose group interval is 1 minute, so
only the records themselves (the log intake's wakeup and early evaluation) can
make the alert come sooner; each round logs three ERROR records inside a new
trace, and a new order id makes each round a new alert (group_by: [order]).
The figure is wall time from just before the first record is logged to the
webhook's receipt of the alert, and whether the alert links that trace.

    python bench/bench_log_rules.py [--rounds 20] [--outside-span]
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from harness.apps import BIN, clean_env  # noqa: E402
from harness.http_sink import Sink  # noqa: E402

RULES = """
groups:
  - name: payments
    interval: 1m
    rules:
      - alert: PaymentsDeadlocks
        logs: {service: payments, severity: ">= ERROR", logger: "payments.*", where: 'body =~ "deadlock"'}
        expr: count > 2
        window: 1m
        group_by: [order]
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=20)
    parser.add_argument(
        "--outside-span",
        action="store_true",
        help="log the records outside any span: no span end wakes the engine, the translator hands them over",
    )
    args = parser.parse_args()
    sink = Sink()
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        (folder / "rules.yaml").write_text(textwrap.dedent(RULES))
        (folder / "otelbundle.yaml").write_text(
            "alerting:\n  rule_files: [rules.yaml]\n"
            '  generator_url: "http://jaeger.example/trace/{{ $exemplar.trace_id }}"\n'
            f"  notify:\n    webhook: {{url: '{sink.url}/hook'}}\n"
        )
        env = clean_env(
            {
                "OTELBUNDLE_CONFIG": str(folder / "otelbundle.yaml"),
                "OTEL_SERVICE_NAME": "payments",
                "OTEL_TRACES_EXPORTER": "none",
                "OTEL_METRICS_EXPORTER": "none",
                "OTEL_LOGS_EXPORTER": "none",
            }
        )
        program = ROOT / "harness/programs/log_errors.py"
        app = subprocess.Popen(
            [
                str(BIN / "opentelemetry-instrument"),
                str(BIN / "python"),
                str(program),
                *(["--outside-span"] if args.outside_span else []),
            ],
            env=env,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            cwd=str(ROOT),
        )
        assert app.stdin is not None and app.stdout is not None
        assert app.stdout.readline().strip() == "READY"
        time.sleep(1.0)
        samples: list[float] = []
        linked = 0
        for round_ in range(args.rounds):
            sink.received.clear()
            seen = len(sink.requests)
            app.stdin.write(f"order-{round_}\n")
            app.stdin.flush()
            _, trace_id, logged_at = app.stdout.readline().split()
            while len(sink.requests) == seen and sink.received.wait(10):
                sink.received.clear()
            received = time.time()
            if len(sink.requests) == seen:
                samples.append(float("inf"))
                continue
            samples.append(received - float(logged_at))
            alerts = sink.requests[-1][2]["alerts"]
            linked += any(trace_id in a.get("generatorURL", "") for a in alerts)
            time.sleep(0.2)
        app.stdin.close()
        app.wait(15)
    sink.close()
    q1, median, q3 = statistics.quantiles(samples, n=4)
    where = "outside any span" if args.outside_span else "inside a span"
    linking = (
        "no trace to link"
        if args.outside_span
        else f"alert links the records' trace in {linked} of {args.rounds}"
    )
    print(
        f"log records ({where}) -> log rule alert at a webhook (group interval 1m, {args.rounds} rounds): "
        f"median {median * 1000:.1f} ms (quartiles {q1 * 1000:.1f}-{q3 * 1000:.1f} ms, max {max(samples) * 1000:.1f} ms); "
        f"{linking}"
    )


if __name__ == "__main__":
    main()
