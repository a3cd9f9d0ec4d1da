"""``otelbundle logs`` against a loopback server replaying answers captured from the real VictoriaLogs 1.52.2.

The bodies under victorialogs_responses/ were saved verbatim by victorialogs_responses/capture.py
(the stack's collector config in front of VictoriaLogs, the example services behind it). The same
command reads Loki (tests/unit/cli/test_logs.py); its output must look the same.
"""

from __future__ import annotations

import _thread
import json
import socket
import subprocess
import sys
import threading
import time
import urllib.parse
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from otelbundle import cli
from otelbundle.cli import logs as logs_cli
from otelbundle.cli.stack import logsql
from otelbundle.cli.stack.logstore import default_store, trace_logs_link

RESPONSES = Path(__file__).parent / "victorialogs_responses"
TRACE_ID = "b70c45c3020d8131e600820c55d38172"  # the trace of trace.json
FAILED = "66979afe0c8333af95fe288393ace19e"  # the trace of traceback.json


def shifted(body: bytes, shift_ns: int, start_ns: int, end_ns: int) -> bytes:
    """A captured answer moved ``shift_ns`` later, keeping the lines in [start, end)."""
    kept: list[str] = []
    for line in body.decode().splitlines():
        row = json.loads(line)
        moved = logsql.parse_time_ns(row["_time"]) + shift_ns
        if start_ns <= moved < end_ns:
            row["_time"] = logsql.rfc3339_ns(moved)
            kept.append(json.dumps(row))
    return "".join(f"{line}\n" for line in kept).encode()


class FakeVictoriaLogs:
    """Answers POST /select/logsql/query with queued (status, body) pairs, the last one
    repeated; records each request's form parameters."""

    def __init__(self) -> None:
        self.answers: list[tuple[int, bytes]] = []
        self.requests: list[dict[str, str]] = []
        self.interrupt_after: int | None = None  # Ctrl-C the main thread after this many requests
        self.shift_ns: int | None = None
        store = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                params = dict(urllib.parse.parse_qsl(self.rfile.read(length).decode()))
                store.requests.append(params)
                status, body = store.answers[0] if len(store.answers) == 1 else store.answers.pop(0)
                if self.path != "/select/logsql/query":
                    status, body = 404, b"unsupported path\n"
                elif store.shift_ns is not None and status == 200:
                    start = logsql.parse_time_ns(params["start"])
                    body = shifted(body, store.shift_ns, start, logsql.parse_time_ns(params["end"]))
                self.send_response(status)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)
                self.wfile.flush()
                if store.interrupt_after is not None and len(store.requests) >= store.interrupt_after:
                    store.interrupt_after = None
                    _thread.interrupt_main()

            def log_message(self, *args: object) -> None:
                return

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, args=(0.05,), daemon=True).start()
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"

    def answer(self, *names: str, status: int = 200) -> None:
        for name in names:
            self.answers.append((status, (RESPONSES / name).read_bytes()))

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def store(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeVictoriaLogs]:
    monkeypatch.delenv("OTELBUNDLE_LOG_STORE", raising=False)
    server = FakeVictoriaLogs()
    yield server
    server.close()


@pytest.fixture
def utc(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setenv("TZ", "UTC")
    time.tzset()
    yield
    monkeypatch.undo()
    time.tzset()


def logs(
    capsys: pytest.CaptureFixture[str], store: FakeVictoriaLogs, *argv: str
) -> tuple[int, list[str], str]:
    """Run ``otelbundle logs ARGV --store victorialogs --url <fake>`` in-process."""
    try:
        code = cli.main(["logs", *argv, "--store", "victorialogs", "--url", store.url])
    except SystemExit as exc:
        code = int(exc.code or 0)
    out, err = capsys.readouterr()
    return code, out.splitlines(), err


# --- which store, which address ----------------------------------------------------


def test_victorialogs_is_the_default_and_a_recorded_choice_or_the_variable_wins(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("OTELBUNDLE_LOG_STORE", raising=False)
    assert default_store({}, tmp_path) == "victorialogs"
    (tmp_path / "run").mkdir()
    (tmp_path / "run" / "topology.json").write_text('{"gateways": 0, "logs": "loki"}\n')
    assert default_store({}, tmp_path) == "loki", "`stack up --logs loki` makes Loki the one to read"
    assert default_store({"OTELBUNDLE_LOG_STORE": "victorialogs"}, tmp_path) == "victorialogs"
    monkeypatch.setenv("OTELBUNDLE_STACK_DIR", str(tmp_path))
    args = cli.build_parser().parse_args(["logs"])
    assert logs_cli.reader_of(args).store == "loki"
    monkeypatch.setenv("OTELBUNDLE_LOKI_URL", "http://loki.example:3100/")
    assert logs_cli.reader_of(args).url == "http://loki.example:3100"
    monkeypatch.setenv("OTELBUNDLE_LOG_STORE", "victorialogs")
    assert logs_cli.reader_of(args) == logs_cli.LogReader("victorialogs", "http://127.0.0.1:9428")
    loki = cli.build_parser().parse_args(["logs", "--loki", "http://127.0.0.1:3101"])
    assert logs_cli.reader_of(loki) == logs_cli.LogReader("loki", "http://127.0.0.1:3101")


# --- LogsQL ------------------------------------------------------------------------


def test_logsql_for_a_trace_services_and_text() -> None:
    assert logsql.build_logsql(TRACE_ID) == f'trace_id:="{TRACE_ID}"'
    assert logsql.build_logsql(services=["storefront"]) == 'service.name:="storefront"'
    assert logsql.build_logsql(services=["storefront", "inventory"]) == (
        'service.name:~"^(?:storefront|inventory)$"'
    )
    assert logsql.build_logsql(None, ["inventory"], 'say "hi" 1+1') == (
        'service.name:="inventory" _msg:~"say\\\\ \\"hi\\"\\\\ 1\\\\+1"'
    )
    assert logsql.build_logsql() == "*"


def test_the_browser_link_and_jaegers_link_pattern_open_the_same_query() -> None:
    """The demo prints trace_logs_link; Jaeger's trace page builds its link from ui-config.json."""
    root = Path(__file__).resolve().parents[3]
    pattern = json.loads((root / "deploy" / "jaeger" / "ui-config.json").read_text())["linkPatterns"][0]
    assert pattern["type"] == "traces"
    assert pattern["url"].replace("#{traceID}", TRACE_ID) == trace_logs_link(TRACE_ID)
    fragment = urllib.parse.urlsplit(trace_logs_link(TRACE_ID)).fragment
    query = dict(urllib.parse.parse_qsl(fragment.split("?", 1)[1]))
    assert query == {"query": f'trace_id:"{TRACE_ID}"', "g0.relative_time": "last_7_days"}


def test_the_request_asks_for_the_newest_lines_of_the_window(
    capsys: pytest.CaptureFixture[str], store: FakeVictoriaLogs
) -> None:
    store.answer("trace.json")
    before = time.time_ns()
    code, _, _ = logs(capsys, store, "--trace-id", TRACE_ID, "--since", "15m", "--limit", "50")
    after = time.time_ns()
    assert code == 0
    [params] = store.requests
    assert params["query"] == f'trace_id:="{TRACE_ID}"'
    assert params["limit"] == "50"
    start, end = logsql.parse_time_ns(params["start"]), logsql.parse_time_ns(params["end"])
    assert before <= end <= after + 1 and end - 1 - start == 15 * 60 * 10**9


def test_query_is_sent_as_given_and_verbose_prints_it_as_logsql(
    capsys: pytest.CaptureFixture[str], store: FakeVictoriaLogs
) -> None:
    store.answer("access_line.json")
    query = 'service.name:="storefront" "POST /checkout"'
    code, out, err = logs(capsys, store, "--query", query, "-v")
    assert code == 0 and len(out) == 2
    assert store.requests[0]["query"] == query
    assert f"otelbundle logs: LogsQL: {query}\n" in err
    assert f"from VictoriaLogs at {store.url}" in err


# --- output: the same as from Loki -------------------------------------------------


def test_a_trace_reads_oldest_first_with_service_severity_and_ids(
    capsys: pytest.CaptureFixture[str], store: FakeVictoriaLogs, utc: None
) -> None:
    store.answer("trace.json")  # VictoriaLogs lists the newest first
    code, out, err = logs(capsys, store, "--trace-id", TRACE_ID)
    assert (code, err) == (0, "")
    assert out == [
        "2026-12-06T01:53:22.027+00:00 storefront INFO  b70c45c3/2d90d6b0 checkout of 1 x APPLE",
        "2026-12-06T01:53:22.032+00:00 inventory  INFO  b70c45c3/24a9ba7a reserved 1 x APPLE",
    ]


def test_stack_traces_follow_their_line_indented(
    capsys: pytest.CaptureFixture[str], store: FakeVictoriaLogs, utc: None
) -> None:
    """The collector's transform/log-store put each traceback into its line (logger.exception)."""
    store.answer("traceback.json")
    _, out, _ = logs(capsys, store, "--trace-id", FAILED)
    heads = [line for line in out if not line.startswith(" ")]
    assert heads == [
        "2026-12-06T01:53:26.040+00:00 storefront INFO  66979afe/1ac998d7 checkout of 1 x FAIL",
        "2026-12-06T01:53:26.044+00:00 inventory  ERROR 66979afe/e7ab3a3b database error",
        "2026-12-06T01:53:26.046+00:00 storefront ERROR 66979afe/1ac998d7 inventory failed during checkout of FAIL",
    ]
    assert out[out.index(heads[1]) + 1] == "    Traceback (most recent call last):"
    assert any("sqlite3.OperationalError: no such column: no_such_column" in line for line in out), out
    assert out[-1].startswith("    requests.exceptions.HTTPError: 500 Server Error"), out[-1]
    assert "" not in out


def test_terminal_control_codes_in_a_line_are_shown_escaped(
    capsys: pytest.CaptureFixture[str], store: FakeVictoriaLogs
) -> None:
    store.answer("access_line.json")
    _, out, _ = logs(capsys, store, "--service", "storefront")
    assert not any("\x1b" in line for line in out)
    assert any('"\\x1b[35m\\x1b[1mPOST /checkout HTTP/1.1\\x1b[0m" 502' in line for line in out), out


def test_raw_prints_one_json_object_per_line_with_every_field(
    capsys: pytest.CaptureFixture[str], store: FakeVictoriaLogs
) -> None:
    store.answer("trace.json")
    _, out, _ = logs(capsys, store, "--trace-id", TRACE_ID, "--raw")
    records = [json.loads(line) for line in out]
    assert [r["line"] for r in records] == ["checkout of 1 x APPLE", "reserved 1 x APPLE"]
    assert [r["labels"] for r in records] == [{"service.name": "storefront"}, {"service.name": "inventory"}]
    assert records[0]["ts"] == "1796522002027415552"
    assert records[0]["metadata"]["trace_id"] == TRACE_ID
    assert records[0]["metadata"]["severity_text"] == "INFO"
    assert "_stream_id" not in records[0]["metadata"]


# --- nothing found, errors -----------------------------------------------------------


def test_no_lines_is_said_on_stderr_and_exits_0(
    capsys: pytest.CaptureFixture[str], store: FakeVictoriaLogs
) -> None:
    store.answer("empty.json")
    code, out, err = logs(capsys, store, "--trace-id", TRACE_ID, "--since", "5m")
    assert code == 0 and out == []
    assert err.startswith(f'otelbundle logs: no log lines for trace_id:="{TRACE_ID}" between ')


def test_a_query_victorialogs_rejects_is_a_usage_error_with_its_reason(
    capsys: pytest.CaptureFixture[str], store: FakeVictoriaLogs
) -> None:
    store.answer("bad_query_400.txt", status=400)
    code, out, err = logs(capsys, store, "--query", "trace_id:=")
    assert code == 2 and out == []
    assert err.startswith(
        "otelbundle logs: VictoriaLogs rejected the query trace_id:=: cannot parse `query` arg"
    )


def test_a_stats_query_is_refused_as_not_log_lines(
    capsys: pytest.CaptureFixture[str], store: FakeVictoriaLogs
) -> None:
    store.answer("stats.json")
    code, out, err = logs(capsys, store, "--query", "service.name:=storefront | stats count() lines")
    assert code == 2 and out == []
    assert "VictoriaLogs answered rows without _time (lines)" in err and "prints log lines" in err


def test_unreachable_victorialogs_is_one_line_naming_the_url() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        url = f"http://127.0.0.1:{sock.getsockname()[1]}"
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "otelbundle.cli",
            "logs",
            "--trace-id",
            TRACE_ID,
            "--store",
            "victorialogs",
            "--url",
            url,
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 1, done
    assert done.stderr.count("\n") == 1, done.stderr
    assert f"cannot reach VictoriaLogs at {url}" in done.stderr and "`otelbundle stack status`" in done.stderr


# --- follow --------------------------------------------------------------------------


def test_follow_prints_each_new_line_once_and_ctrl_c_exits_0(
    capsys: pytest.CaptureFixture[str], store: FakeVictoriaLogs, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(logs_cli, "FOLLOW_INTERVAL", 0.01)
    store.answer("follow_initial.json", "follow_poll.json")
    newest = logsql.parse_time_ns("2026-12-06T01:53:36.078286336Z")
    store.shift_ns = time.time_ns() - newest - 10**9
    store.interrupt_after = 4
    code, out, err = logs(capsys, store, "-f", "--service", "storefront|inventory", "--grep", "FOLLOW7F4E50")
    assert code == 0, err
    assert [line.split(maxsplit=4)[4] for line in out] == [
        "checkout of 1 x FOLLOW7F4E50A",
        "cannot reserve unknown sku FOLLOW7F4E50A",
        "checkout of unknown sku FOLLOW7F4E50A",
        "checkout of 1 x FOLLOW7F4E50B",
        "cannot reserve unknown sku FOLLOW7F4E50B",
        "checkout of unknown sku FOLLOW7F4E50B",
    ]
    initial, *polls = store.requests
    assert "limit" in initial and "| sort" not in initial["query"]
    # Polls want the oldest lines of their window first: the API's limit would keep the newest.
    assert all(p["query"] == initial["query"] + " | sort by (_time) | limit 5000" for p in polls)
    assert all("limit" not in p for p in polls)
