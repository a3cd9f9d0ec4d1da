"""Capture the Loki query_range answers that tests/unit/cli/test_logs.py replays.

Starts the real stack and the example services, makes checkouts and saves what
Loki 3.7.6 answers, verbatim. Run it inside a network namespace of your own:

    ip netns exec NAME env OTELBUNDLE_STACK_DIR=/tmp/NAME-stack .venv/bin/python tests/unit/cli/loki_responses/capture.py
"""

from __future__ import annotations

import json
import secrets
import sys
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[3]
sys.path.insert(0, str(ROOT))

from harness.apps import clean_env, start_examples  # noqa: E402
from otelbundle.cli.backends import LOKI_CATEGORIZE_LABELS  # noqa: E402
from otelbundle.cli.stack import Stack  # noqa: E402
from tests.e2e.conftest import checkout  # noqa: E402

LOKI = "http://127.0.0.1:3100"


def query(logql: str, *, direction: str = "backward", categorize: bool = True) -> tuple[int, bytes]:
    now = time.time_ns()
    params = {
        "query": logql,
        "start": str(now - 3600 * 10**9),
        "end": str(now),
        "limit": "100",
        "direction": direction,
    }
    request = urllib.request.Request(
        f"{LOKI}/loki/api/v1/query_range?" + urllib.parse.urlencode(params),
        headers=LOKI_CATEGORIZE_LABELS if categorize else {},
    )
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return int(response.status), response.read()
    except urllib.error.HTTPError as exc:
        return int(exc.code), exc.read()


def lines_of(body: bytes) -> int:
    return sum(len(s["values"]) for s in json.loads(body)["data"]["result"])


def wait_for(logql: str, count: int, **kwargs: object) -> bytes:
    end = time.monotonic() + 60
    while time.monotonic() < end:
        status, body = query(logql, **kwargs)  # type: ignore[arg-type]
        if status == 200 and lines_of(body) >= count:
            time.sleep(2)  # let late lines of the same request arrive too
            return query(logql, **kwargs)[1]  # type: ignore[arg-type]
        time.sleep(1)
    raise SystemExit(f"fewer than {count} lines for {logql} within 60 s")


def save(name: str, body: bytes) -> None:
    (HERE / name).write_bytes(body)
    print(f"saved {name} ({len(body)} bytes)")


def main() -> None:
    data_dir = Path(tempfile.mkdtemp(prefix="loki-capture-"))
    stack = Stack(data_dir=data_dir, config_root=ROOT, say=print)
    stack.up(timeout=120)
    env = clean_env(
        {"OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:4318", "OTEL_BLRP_SCHEDULE_DELAY": "200"}
    )
    services = start_examples(env, data_dir)
    try:
        trace = checkout(services, "APPLE").trace_id
        logql = f'{{service_name=~".+"}} | trace_id="{trace}"'
        save("trace.json", wait_for(logql, 2))
        save("trace_uncategorized.json", wait_for(logql, 2, categorize=False))
        failed = checkout(services, "FAIL").trace_id
        save("traceback.json", wait_for(f'{{service_name=~".+"}} | trace_id="{failed}"', 2))
        # werkzeug's access lines carry terminal colour codes.
        save("access_line.json", wait_for('{service_name="storefront"} |= "POST /checkout"', 1))
        save("empty.json", query(f'{{service_name=~".+"}} | trace_id="{secrets.token_hex(16)}"')[1])
        status, body = query('{service_name=~".+"} | trace_id=')
        assert status == 400, status
        save("bad_query_400.txt", body)
        metric = 'sum(count_over_time({service_name="storefront"}[1m]))'
        status, body = query(metric)
        assert status == 200, status
        save("metric.json", body)
        marker = "FOLLOW" + secrets.token_hex(3).upper()
        follow = f'{{service_name=~"storefront|inventory"}} |= "{marker}"'
        checkout(services, marker + "A")
        save("follow_initial.json", wait_for(follow, 3))
        checkout(services, marker + "B")
        save("follow_poll.json", wait_for(follow, 6, direction="forward"))
    finally:
        services.stop()
        stack.down()


if __name__ == "__main__":
    main()
