"""``otelbundle logs`` against a loopback server replaying answers captured from the real Loki 3.7.6.

Loki is the log store a user may choose instead of VictoriaLogs (`otelbundle stack up --logs
loki`, `otelbundle logs --loki URL`); tests/unit/cli/test_logs_victorialogs.py covers the
default. The bodies under loki_responses/ were saved verbatim by loki_responses/capture.py
when the stack still ran Loki; the project no longer builds Loki, so they are not re-captured.
"""

from __future__ import annotations

import _thread
import argparse
import json
import socket
import subprocess
import sys
import threading
import time
import urllib.parse
from collections.abc import Iterator
from datetime import timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from otelbundle import cli
from otelbundle.cli import logs as logs_cli
from otelbundle.cli.logs import parse_duration, parse_trace_id
from otelbundle.cli.logs_reader import build_logql

RESPONSES = Path(__file__).parent / "loki_responses"
TRACE_ID = "7a3976c90f9a9e8641e855e7f3910f3a"  # the trace of trace.json


def replayed(body: bytes, shift_ns: int, start_ns: int, end_ns: int) -> bytes:
    """A captured answer moved ``shift_ns`` later, keeping only the lines Loki would return
    for [start, end], as if it had been captured now."""
    data = json.loads(body)
    for stream in data["data"]["result"]:
        moved = [[str(int(v[0]) + shift_ns), *v[1:]] for v in stream["values"]]
        stream["values"] = [v for v in moved if start_ns <= int(v[0]) <= end_ns]
    data["data"]["result"] = [s for s in data["data"]["result"] if s["values"]]
    return json.dumps(data).encode()


class FakeLoki:
    """Answers GET /loki/api/v1/query_range with queued (status, body) pairs, the last one
    repeated; records each request's parameters and headers."""

    def __init__(self) -> None:
        self.answers: list[tuple[int, bytes]] = []
        self.requests: list[tuple[dict[str, str], dict[str, str]]] = []
        self.interrupt_after: int | None = None  # Ctrl-C the main thread after this many requests
        self.shift_ns: int | None = None  # replay answers moved in time (see replayed)
        loki = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                url = urllib.parse.urlsplit(self.path)
                params = dict(urllib.parse.parse_qsl(url.query))
                loki.requests.append((params, {k.lower(): v for k, v in self.headers.items()}))
                status, body = loki.answers[0] if len(loki.answers) == 1 else loki.answers.pop(0)
                if url.path != "/loki/api/v1/query_range":
                    status, body = 404, b"404 page not found\n"
                elif loki.shift_ns is not None and status == 200:
                    body = replayed(body, loki.shift_ns, int(params["start"]), int(params["end"]))
                self.send_response(status)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)
                self.wfile.flush()
                if loki.interrupt_after is not None and len(loki.requests) >= loki.interrupt_after:
                    loki.interrupt_after = None
                    _thread.interrupt_main()  # what Ctrl-C does: KeyboardInterrupt in the main thread

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
def loki() -> Iterator[FakeLoki]:
    server = FakeLoki()
    yield server
    server.close()


@pytest.fixture
def utc(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TZ", "UTC")
    time.tzset()


@pytest.fixture(autouse=True)
def _restore_tz() -> Iterator[None]:
    yield
    time.tzset()  # after monkeypatch has put TZ back


def logs(capsys: pytest.CaptureFixture[str], loki: FakeLoki | None, *argv: str) -> tuple[int, list[str], str]:
    """Run ``otelbundle logs ARGV --loki <fake>`` in-process: (exit code, stdout lines, stderr)."""
    url = ["--loki", loki.url] if loki is not None else []
    try:
        code = cli.main(["logs", *argv, *url])
    except SystemExit as exc:  # argparse's usage errors
        code = int(exc.code or 0)
    out, err = capsys.readouterr()
    return code, out.splitlines(), err


def parse(*argv: str) -> argparse.Namespace:
    return cli.build_parser().parse_args(["logs", *argv])


# --- arguments -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("30s", 30), ("15m", 900), ("2h", 7200), ("1d", 86400), ("1w", 604800), ("1h30m", 5400), ("500ms", 0.5)],
)
def test_durations_in_the_units_people_type(text: str, seconds: float) -> None:
    assert parse_duration(text) == seconds


@pytest.mark.parametrize("text", ["", "15", "15x", "m", "1h 30m", "0s", "-5m", "1.5.2h", "h1"])
def test_what_is_not_a_duration_is_refused_naming_the_value(text: str) -> None:
    with pytest.raises(argparse.ArgumentTypeError) as refused:
        parse_duration(text)
    assert repr(text) in str(refused.value)


def test_a_bad_since_is_a_usage_error_naming_the_flag_and_the_value(
    capsys: pytest.CaptureFixture[str],
) -> None:
    code, out, err = logs(capsys, None, "--since", "15x")
    assert code == 2 and out == []
    assert "argument --since: '15x' is not a duration" in err, err
    assert "Traceback" not in err


def test_defaults_are_the_last_hour_1000_lines_and_the_local_loki(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("OTELBUNDLE_LOKI_URL", raising=False)
    args = parse("--store", "loki")
    assert (args.since, args.limit, args.follow, args.raw) == (3600, 1000, False, False)
    assert logs_cli.reader_of(args) == logs_cli.LogReader("loki", "http://127.0.0.1:3100")


def test_loki_url_from_the_environment_and_the_flag_wins(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OTELBUNDLE_LOKI_URL", "http://loki.example:3100/")
    assert logs_cli.reader_of(parse("--store", "loki")).url == "http://loki.example:3100"
    assert logs_cli.reader_of(parse("--loki", "http://127.0.0.1:3101")).url == "http://127.0.0.1:3101"
    assert logs_cli.reader_of(parse("--store", "loki", "--url", "http://127.0.0.1:3102")).url == (
        "http://127.0.0.1:3102"
    )


def test_the_command_printed_for_a_trace_parses_to_that_trace() -> None:
    argv = logs_cli.command_for_trace(TRACE_ID).split()
    assert argv[:2] == ["otelbundle", "logs"]
    assert cli.build_parser().parse_args(argv[1:]).trace_id == TRACE_ID


def test_trace_ids_are_taken_as_jaeger_shows_them_in_either_case() -> None:
    assert parse_trace_id(TRACE_ID.upper()) == TRACE_ID
    assert parse("--trace-id", f" {TRACE_ID} ").trace_id == TRACE_ID


@pytest.mark.parametrize(
    ("flag", "value"),
    [
        ("--trace-id", "abc"),
        ("--trace-id", TRACE_ID + "0"),
        ("--trace-id", "0" * 32),
        ("--trace-id", "z" * 32),
        ("--limit", "0"),
        ("--limit", "ten"),
        ("--loki", "127.0.0.1:3100"),
    ],
)
def test_bad_values_are_usage_errors_naming_flag_and_value(
    capsys: pytest.CaptureFixture[str], flag: str, value: str
) -> None:
    code, _, err = logs(capsys, None, flag, value)
    assert code == 2
    assert f"argument {flag}: {value!r}" in err, err


def test_query_cannot_be_mixed_with_the_filters(capsys: pytest.CaptureFixture[str], loki: FakeLoki) -> None:
    code, out, err = logs(capsys, loki, "--query", '{service_name="storefront"}', "--trace-id", TRACE_ID)
    assert code == 2 and out == []
    assert "--query replaces --trace-id, --service and --grep" in err
    assert loki.requests == []


# --- LogQL -----------------------------------------------------------------------


def test_a_trace_is_looked_up_in_every_service_by_structured_metadata() -> None:
    assert build_logql(TRACE_ID) == f'{{service_name=~".+"}} | trace_id="{TRACE_ID}"'


def test_one_service_is_an_exact_match_several_or_a_pattern_a_regex() -> None:
    assert build_logql(services=["storefront"]) == '{service_name="storefront"}'
    assert build_logql(services=["storefront", "inventory"]) == '{service_name=~"storefront|inventory"}'
    assert build_logql(services=["store.*"]) == '{service_name=~"store.*"}'


def test_grep_text_is_quoted_for_logql() -> None:
    query = build_logql(TRACE_ID, ["inventory"], 'say "hi" C:\\tmp')
    assert query == (f'{{service_name="inventory"}} | trace_id="{TRACE_ID}" |= "say \\"hi\\" C:\\\\tmp"')


def test_the_request_asks_for_the_newest_lines_of_the_window_with_labels_categorized(
    capsys: pytest.CaptureFixture[str], loki: FakeLoki
) -> None:
    loki.answer("trace.json")
    before = time.time_ns()
    code, _, _ = logs(capsys, loki, "--trace-id", TRACE_ID, "--since", "15m", "--limit", "50")
    after = time.time_ns()
    assert code == 0
    [(params, headers)] = loki.requests
    assert params["query"] == f'{{service_name=~".+"}} | trace_id="{TRACE_ID}"'
    assert (params["limit"], params["direction"]) == ("50", "backward")
    start, end = int(params["start"]), int(params["end"])
    assert before <= end <= after and end - start == 15 * 60 * 10**9
    assert headers["x-loki-response-encoding-flags"] == "categorize-labels"


def test_query_is_sent_as_given_and_verbose_prints_it(
    capsys: pytest.CaptureFixture[str], loki: FakeLoki
) -> None:
    loki.answer("access_line.json")
    query = '{service_name="storefront"} |= "POST /checkout"'
    code, out, err = logs(capsys, loki, "--query", query, "-v")
    assert code == 0 and len(out) == 2
    assert loki.requests[0][0]["query"] == query
    assert f"otelbundle logs: LogQL: {query}\n" in err


# --- output ----------------------------------------------------------------------


def test_a_trace_reads_oldest_first_with_service_severity_and_ids(
    capsys: pytest.CaptureFixture[str], loki: FakeLoki, utc: None
) -> None:
    loki.answer("trace.json")
    code, out, err = logs(capsys, loki, "--trace-id", TRACE_ID)
    assert (code, err) == (0, "")
    assert out == [
        "2026-11-28T05:44:31.136+00:00 storefront INFO  7a3976c9/c0f003e4 checkout of 1 x APPLE",
        "2026-11-28T05:44:31.148+00:00 inventory  INFO  7a3976c9/79931a38 reserved 1 x APPLE",
    ]


def test_times_are_local(
    capsys: pytest.CaptureFixture[str], loki: FakeLoki, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TZ", "IST-5:30")  # POSIX form: no tz database needed
    time.tzset()
    loki.answer("trace.json")
    _, out, _ = logs(capsys, loki, "--trace-id", TRACE_ID)
    assert out[0].startswith("2026-11-28T11:14:31.136+05:30 storefront "), out


def test_a_loki_that_does_not_categorize_labels_prints_the_same(
    capsys: pytest.CaptureFixture[str], loki: FakeLoki
) -> None:
    loki.answer("trace.json")
    _, categorized, _ = logs(capsys, loki, "--trace-id", TRACE_ID)
    loki.answer("trace_uncategorized.json")
    _, merged, _ = logs(capsys, loki, "--trace-id", TRACE_ID)
    assert merged == categorized and len(merged) == 2


def test_stack_traces_follow_their_line_indented_and_services_interleave_by_time(
    capsys: pytest.CaptureFixture[str], loki: FakeLoki, utc: None
) -> None:
    loki.answer("traceback.json")
    _, out, _ = logs(capsys, loki, "--trace-id", "31451d55ea4baeb71f316cd0cebd2a46")
    heads = [line for line in out if not line.startswith(" ")]
    assert heads == [
        "2026-11-28T05:44:36.302+00:00 storefront INFO  31451d55/e717d325 checkout of 1 x FAIL",
        "2026-11-28T05:44:36.310+00:00 inventory  ERROR 31451d55/c9de4e4c database error",
        "2026-11-28T05:44:36.315+00:00 storefront ERROR 31451d55/e717d325 inventory failed during checkout of FAIL",
    ]
    assert out[out.index(heads[1]) + 1] == "    Traceback (most recent call last):"
    assert out[-1].startswith("    requests.exceptions.HTTPError: 500 Server Error"), out[-1]
    assert "" not in out  # the stack's trailing newline does not print an empty line


def test_order_does_not_depend_on_the_order_loki_lists_streams(
    capsys: pytest.CaptureFixture[str], loki: FakeLoki
) -> None:
    body = json.loads((RESPONSES / "traceback.json").read_bytes())
    body["data"]["result"].reverse()
    for stream in body["data"]["result"]:
        stream["values"].reverse()
    loki.answer("traceback.json")
    loki.answers.append((200, json.dumps(body).encode()))
    _, as_captured, _ = logs(capsys, loki, "--trace-id", "31451d55ea4baeb71f316cd0cebd2a46")
    _, reversed_, _ = logs(capsys, loki, "--trace-id", "31451d55ea4baeb71f316cd0cebd2a46")
    assert reversed_ == as_captured


def test_terminal_control_codes_in_a_line_are_shown_escaped(
    capsys: pytest.CaptureFixture[str], loki: FakeLoki
) -> None:
    loki.answer("access_line.json")
    _, out, _ = logs(capsys, loki, "--service", "storefront")
    assert not any("\x1b" in line for line in out)
    assert any('"\\x1b[35m\\x1b[1mPOST /checkout HTTP/1.1\\x1b[0m" 502' in line for line in out), out
    assert any(
        line.endswith(
            ' storefront INFO  -                 127.0.0.1 - - [28/Nov/2026 05:44:31] "POST /checkout HTTP/1.1" 200 -'
        )
        for line in out
    ), out


def test_raw_prints_one_json_object_per_line_with_every_label(
    capsys: pytest.CaptureFixture[str], loki: FakeLoki
) -> None:
    loki.answer("trace.json")
    _, out, _ = logs(capsys, loki, "--trace-id", TRACE_ID, "--raw")
    records = [json.loads(line) for line in out]
    assert [r["line"] for r in records] == ["checkout of 1 x APPLE", "reserved 1 x APPLE"]
    assert [r["labels"]["service_name"] for r in records] == ["storefront", "inventory"]
    assert records[0]["ts"] == "1795844671136117248"
    assert records[0]["metadata"]["trace_id"] == TRACE_ID
    assert records[0]["metadata"]["severity_text"] == "INFO"


# --- nothing found, errors -------------------------------------------------------


def test_no_lines_is_said_on_stderr_with_query_and_range_and_exits_0(
    capsys: pytest.CaptureFixture[str], loki: FakeLoki
) -> None:
    loki.answer("empty.json")
    code, out, err = logs(capsys, loki, "--trace-id", TRACE_ID, "--since", "5m")
    assert code == 0 and out == []
    assert err.startswith(
        f'otelbundle logs: no log lines for {{service_name=~".+"}} | trace_id="{TRACE_ID}" between '
    )
    assert err.count("\n") == 1


def test_hitting_the_limit_says_older_lines_may_exist(
    capsys: pytest.CaptureFixture[str], loki: FakeLoki
) -> None:
    loki.answer("trace.json")
    code, out, err = logs(capsys, loki, "--trace-id", TRACE_ID, "--limit", "2")
    assert code == 0 and len(out) == 2
    assert "showing the newest 2 lines; older ones may exist" in err


def test_a_query_loki_rejects_is_a_usage_error_with_lokis_reason(
    capsys: pytest.CaptureFixture[str], loki: FakeLoki
) -> None:
    loki.answer("bad_query_400.txt", status=400)
    code, out, err = logs(capsys, loki, "--query", '{service_name=~".+"} | trace_id=')
    assert code == 2 and out == []
    assert err == (
        'otelbundle logs: Loki rejected the query {service_name=~".+"} | trace_id=: '
        "parse error at line 1, col 33: syntax error: unexpected $end\n"
    )


def test_a_metric_query_is_refused_as_not_log_lines(
    capsys: pytest.CaptureFixture[str], loki: FakeLoki
) -> None:
    loki.answer("metric.json")
    code, out, err = logs(capsys, loki, "--query", 'sum(count_over_time({service_name="storefront"}[1m]))')
    assert code == 2 and out == []
    assert "Loki answered 'matrix'" in err and "a metric query" in err


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_unreachable_loki_is_one_line_naming_the_url_and_the_next_step() -> None:
    url = f"http://127.0.0.1:{closed_port()}"
    done = subprocess.run(
        [sys.executable, "-m", "otelbundle.cli", "logs", "--trace-id", TRACE_ID, "--loki", url],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 1, done
    assert done.stdout == ""
    assert done.stderr.count("\n") == 1, done.stderr
    assert f"cannot reach Loki at {url}" in done.stderr and "`otelbundle stack status`" in done.stderr


# --- follow ----------------------------------------------------------------------


def test_follow_prints_each_new_line_once_and_ctrl_c_exits_0(
    capsys: pytest.CaptureFixture[str], loki: FakeLoki, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(logs_cli, "FOLLOW_INTERVAL", 0.01)
    # The first answer holds order A's lines; every poll after it holds A's and B's, replayed
    # as if order B had been logged a second ago.
    loki.answer("follow_initial.json", "follow_poll.json")
    loki.shift_ns = time.time_ns() - 1795844684653226240 - 10**9
    loki.interrupt_after = 4  # the initial query, then three polls
    code, out, err = logs(capsys, loki, "-f", "--service", "storefront|inventory", "--grep", "FOLLOWDAF51E")
    assert code == 0, err
    assert [line.split(maxsplit=4)[4] for line in out] == [
        "checkout of 1 x FOLLOWDAF51EA",
        "cannot reserve unknown sku FOLLOWDAF51EA",
        "checkout of unknown sku FOLLOWDAF51EA",
        "checkout of 1 x FOLLOWDAF51EB",
        "cannot reserve unknown sku FOLLOWDAF51EB",
        "checkout of unknown sku FOLLOWDAF51EB",
    ]
    assert len(loki.requests) >= 4
    initial, *polls = (params for params, _ in loki.requests)
    assert initial["direction"] == "backward"
    assert all(p["direction"] == "forward" and p["query"] == initial["query"] for p in polls)
    # Each poll re-reads the recent past (late lines), never before the window asked for.
    assert all(int(p["start"]) >= int(initial["start"]) for p in polls)


def test_follow_with_nothing_yet_says_it_waits(
    capsys: pytest.CaptureFixture[str], loki: FakeLoki, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(logs_cli, "FOLLOW_INTERVAL", 0.01)
    loki.answer("empty.json", "follow_initial.json")
    loki.shift_ns = time.time_ns() - 1795844681525390848 - 10**9
    loki.interrupt_after = 3
    code, out, err = logs(capsys, loki, "--follow", "--grep", "FOLLOWDAF51EA")
    assert code == 0
    assert len(out) == 3
    assert "waiting for new ones (Ctrl-C to stop)" in err


def test_a_level_logging_has_no_name_for_keeps_the_severity_column() -> None:
    """`log.log(25, ...)` is stored as "Level 25" and pushed the line three columns right."""
    from otelbundle.cli.backends import LokiEntry
    from otelbundle.cli.logs_output import format_entry

    def line(severity: str) -> str:
        entry = LokiEntry(0, "text", {"service_name": "myapp"}, {"severity_text": severity}, {})
        return format_entry(entry, timezone.utc)

    assert line("Level 25").split()[2:] == ["L25", "-", "text"]
    assert line("Level 25").index(" - ") == line("INFO").index(" - ")
