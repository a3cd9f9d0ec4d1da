"""Secrets never reach a backend (issue #14): the collector's scrubbing, checked in Jaeger and in
the log store, VictoriaLogs.

The program leaks on purpose (harness/programs/secrets_app.py) with
the in-process scrubber turned off, so what is tested here is the shipped
collector pipeline alone. The assertions are on the raw JSON the backends'
query APIs return: no secret anywhere, every parameter name still there.
"""

from __future__ import annotations

import json
import time
import urllib.parse
import urllib.request

from harness.apps import clean_env, run
from harness.leaks import (
    KEPT_IN_LOGS,
    KEPT_IN_TRACES,
    PROGRAM,
    env_for,
    leaked_in,
    make_secrets,
    missing_from,
)
from otelbundle.cli.backends import Backends, get_json, poll
from otelbundle.cli.stack import Stack, logsql
from otelbundle.cli.stack.logstore import VICTORIALOGS_URL


def _victorialogs_body(query: str) -> str:
    """VictoriaLogs' answer as it came, every field of every entry (one JSON object per line)."""
    now = time.time_ns()
    params = {
        "query": query,
        "start": logsql.rfc3339_ns(now - 3600 * 10**9),
        "end": logsql.rfc3339_ns(now),
        "limit": "1000",
    }
    request = urllib.request.Request(
        f"{VICTORIALOGS_URL}/select/logsql/query", data=urllib.parse.urlencode(params).encode(), method="POST"
    )
    with urllib.request.urlopen(request, timeout=30) as response:
        return str(response.read().decode("utf-8"))


def test_secrets_are_scrubbed_by_the_collector_before_jaeger_and_victorialogs(
    stack: Stack, backends: Backends
) -> None:
    leaked = make_secrets()
    env = clean_env(
        {
            **env_for(leaked),
            "OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:4318",
            "OTEL_BSP_SCHEDULE_DELAY": "200",
            "OTEL_BLRP_SCHEDULE_DELAY": "200",
            "OTELBUNDLE_SCRUB": "false",  # the collector alone must protect the backends
        }
    )
    result = run(["python", str(PROGRAM)], env, timeout=90)
    assert result.returncode == 0, result.stdout + result.stderr
    assert leaked["api_key"] in result.stdout + result.stderr, "the program's own console output should leak"
    trace_id = result.stdout.split("TRACE ", 1)[1].split()[0]

    def whole_trace() -> str | None:
        data = get_json(f"{backends.jaeger}/api/v3/traces/{trace_id}")
        text = json.dumps(data)
        return text if text.count('"spanId"') >= 8 else None

    traces = poll(whole_trace, timeout=60)
    assert traces, f"trace {trace_id} did not reach Jaeger with its 8 spans"
    assert not leaked_in(traces, leaked), f"secrets in Jaeger: {leaked_in(traces, leaked)}\n{traces}"
    assert not missing_from(traces, KEPT_IN_TRACES), (
        f"lost from Jaeger: {missing_from(traces, KEPT_IN_TRACES)}"
    )
    assert '"exception.stacktrace"' in traces and "for url: http://127.0.0.1:" in traces
    assert '"http.request.header.authorization"' in traces  # captured, its value masked

    assert stack.logs == "victorialogs"
    query = logsql.build_logsql(None, ["secrets-app"])
    logs = poll(
        lambda: (text := _victorialogs_body(query)) and "issued jwt" in text and "Traceback" in text and text,
        timeout=60,
    )
    assert logs, "the program's log lines did not reach VictoriaLogs"
    assert not leaked_in(logs, leaked), f"secrets in VictoriaLogs: {leaked_in(logs, leaked)}\n{logs}"
    lines = [json.loads(row)["_msg"] for row in logs.splitlines() if row.strip()]
    assert not missing_from(logs, KEPT_IN_LOGS), (
        f"lost from VictoriaLogs: {missing_from(logs, KEPT_IN_LOGS)}; lines:\n" + "\n".join(lines)
    )
