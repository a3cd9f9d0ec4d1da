"""Capture the VictoriaLogs /select/logsql/query answers that tests/unit/cli/test_logs.py replays.

Starts the real stack (logs to VictoriaLogs 1.52.2, through the shipped collector
config) and the example services, makes checkouts and saves what VictoriaLogs
answers, verbatim. Run it inside a network namespace of your own:

    ip netns exec NAME env OTELBUNDLE_STACK_DIR=/tmp/NAME-stack \\
        .venv/bin/python tests/unit/victorialogs_responses/capture.py
"""

from __future__ import annotations

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
from otelbundle.cli.stack import Stack  # noqa: E402
from otelbundle.cli.stack.logsql import build_logsql, rfc3339_ns  # noqa: E402
from tests.e2e.conftest import checkout  # noqa: E402

VICTORIALOGS = "http://127.0.0.1:9428"


def query(logsql: str, *, limit: int = 100, forward: bool = False) -> tuple[int, bytes]:
    now = time.time_ns()
    params = {"query": logsql, "start": rfc3339_ns(now - 3600 * 10**9), "end": rfc3339_ns(now)}
    if forward:
        params["query"] = f"{logsql} | sort by (_time) | limit {limit}"
    else:
        params["limit"] = str(limit)
    request = urllib.request.Request(
        f"{VICTORIALOGS}/select/logsql/query", data=urllib.parse.urlencode(params).encode(), method="POST"
    )
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return int(response.status), response.read()
    except urllib.error.HTTPError as exc:
        return int(exc.code), exc.read()


def lines_of(body: bytes) -> int:
    return sum(1 for line in body.splitlines() if line.strip())


def wait_for(logsql: str, count: int, **kwargs: object) -> bytes:
    end = time.monotonic() + 60
    while time.monotonic() < end:
        status, body = query(logsql, **kwargs)  # type: ignore[arg-type]
        if status == 200 and lines_of(body) >= count:
            time.sleep(2)  # let late lines of the same request arrive too
            return query(logsql, **kwargs)[1]  # type: ignore[arg-type]
        time.sleep(1)
    raise SystemExit(f"fewer than {count} lines for {logsql} within 60 s")


def save(name: str, body: bytes) -> None:
    (HERE / name).write_bytes(body)
    print(f"saved {name} ({len(body)} bytes)")


def main() -> None:
    data_dir = Path(tempfile.mkdtemp(prefix="victorialogs-capture-"))
    stack = Stack(data_dir=data_dir, config_root=ROOT, say=print, logs="victorialogs")
    stack.up(timeout=120)
    env = clean_env(
        {"OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:4318", "OTEL_BLRP_SCHEDULE_DELAY": "200"}
    )
    services = start_examples(env, data_dir)
    try:
        trace = checkout(services, "APPLE").trace_id
        save("trace.json", wait_for(build_logsql(trace), 2))
        failed = checkout(services, "FAIL").trace_id
        save("traceback.json", wait_for(build_logsql(failed), 2))
        # werkzeug's access lines carry terminal colour codes.
        save("access_line.json", wait_for(build_logsql(None, ["storefront"], "POST /checkout"), 1))
        save("empty.json", query(build_logsql(secrets.token_hex(16)))[1])
        status, body = query("trace_id:=")
        assert status == 400, status
        save("bad_query_400.txt", body)
        status, body = query("service.name:=storefront | stats count() lines")
        assert status == 200, status
        save("stats.json", body)
        marker = "FOLLOW" + secrets.token_hex(3).upper()
        follow = build_logsql(None, ["storefront|inventory"], marker)
        checkout(services, marker + "A")
        save("follow_initial.json", wait_for(follow, 3))
        checkout(services, marker + "B")
        save("follow_poll.json", wait_for(follow, 6, forward=True, limit=5000))
    finally:
        services.stop()
        stack.down()


if __name__ == "__main__":
    main()
