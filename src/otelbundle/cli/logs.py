"""``otelbundle logs``: read a trace's (or a service's) log lines from the log store in a terminal.

How a person reads the logs that ``opentelemetry-instrument`` exported without a
browser: LogsQL over VictoriaLogs' HTTP API (the stack's default store), or LogQL
over Loki's when Loki is the store; the same flags and the same output either
way (:mod:`otelbundle.cli.logs_reader` the stores, :mod:`otelbundle.cli.logs_output`
the printing). Standard library only. Not to be confused with :mod:`otelbundle.sdk.logs.correlation` (the
logging instrumentation) or ``otelbundle stack logs`` (the backends' own process logs).
"""

from __future__ import annotations

import argparse
import os
import re
import select
import sys
import time
from collections.abc import Sequence
from typing import TextIO

from otelbundle.cli.arguments import line_count
from otelbundle.cli.backends import (
    BackendError,
    BackendHTTPError,
    BackendUnreachable,
    LokiEntry,
    NotLogStreams,
)
from otelbundle.cli.logs_output import Printer, local_iso, ordered
from otelbundle.cli.logs_reader import DEFAULT_LOKI, LogReader
from otelbundle.cli.stack import logsql
from otelbundle.cli.stack.logstore import LOG_STORES, LOKI, STORE_VARIABLE, default_store, store_url
from otelbundle.config.values import DURATION_RE
from otelbundle.config.values import parse_duration as config_duration

DEFAULT_SINCE = "1h"
DEFAULT_LIMIT = 1000
# Loki's default max_entries_limit_per_query: one follow page.
FOLLOW_PAGE = 5000
FOLLOW_INTERVAL = 1.0
# Lines reach Loki a few seconds after they are logged (SDK and collector batches),
# and not in timestamp order across services: follow re-reads this much of the past.
FOLLOW_OVERLAP_NS = 30 * 1_000_000_000

_TRACE_ID = re.compile(r"[0-9a-f]{32}")


def command_for_trace(trace_id: str) -> str:
    """What a person types to read one trace's lines (the demo prints it next to Jaeger's link)."""
    return f"otelbundle logs --trace-id {trace_id}"


def parse_duration(text: str) -> float:
    """Seconds in a duration like ``30s``, ``15m``, ``2h``, ``1d`` or ``1h30m``: the config's grammar
    (otelbundle.config.values), with the unit required on the command line."""
    value = text.strip()
    if not DURATION_RE.fullmatch(value):
        raise argparse.ArgumentTypeError(f"{text!r} is not a duration (e.g. 30s, 15m, 2h, 1d, 1h30m)")
    try:
        return config_duration(value)
    except ValueError as exc:  # zero, or longer than the config grammar's bound
        raise argparse.ArgumentTypeError(str(exc)) from None


def parse_trace_id(text: str) -> str:
    """A trace id as Loki stores it: 32 lowercase hex digits (Jaeger shows the same)."""
    value = text.strip().lower()
    if not _TRACE_ID.fullmatch(value) or value == "0" * 32:
        raise argparse.ArgumentTypeError(f"{text!r} is not a trace id (32 hex digits)")
    return value


def parse_url(text: str) -> str:
    if not re.match(r"https?://[^/]+", text):
        raise argparse.ArgumentTypeError(f"{text!r} is not an http(s) URL (e.g. {DEFAULT_LOKI})")
    return text.rstrip("/")


class UsageError(Exception):
    """A problem with what the person typed: exit 2."""


def reader_of(args: argparse.Namespace) -> LogReader:
    """--loki URL means Loki; else --store (default: $OTELBUNDLE_LOG_STORE, the stack's, VictoriaLogs)."""
    if args.loki:
        return LogReader(LOKI, args.loki)
    given = os.environ.get(STORE_VARIABLE, "").strip()
    if not args.store and given and given.lower() not in LOG_STORES:
        raise UsageError(f"{STORE_VARIABLE}={given!r} is not a log store; one of {', '.join(LOG_STORES)}")
    store = args.store or default_store()
    return LogReader(store, args.url or store_url(store))


def _query_of(args: argparse.Namespace, reader: LogReader) -> str:
    if args.query is not None:
        if args.trace_id or args.service or args.grep:
            raise UsageError("--query replaces --trace-id, --service and --grep; use one or the other")
        return str(args.query)
    return reader.build(args.trace_id, args.service or (), args.grep)


def _say(message: str) -> None:
    print(f"otelbundle logs: {message}", file=sys.stderr, flush=True)


def _range(start_ns: int, end_ns: int) -> str:
    return f"between {local_iso(start_ns)} and {local_iso(end_ns)}"


def reader_gone(out: TextIO) -> bool:
    """True when ``out`` is a pipe whose reader has closed it (``| grep -m1`` after its match).

    A write would find that out, but follow may have nothing new to write for ever: it asks
    the pipe at every poll instead, so it stops as the docs say. Linux and the BSDs report a
    pipe without a reader as POLLERR; a terminal or a file never is, nor a stream without a
    file descriptor (tests' captured output).
    """
    if not hasattr(select, "poll"):
        return False
    try:
        fd = out.fileno()
    except (AttributeError, OSError, ValueError):
        return False
    poller = select.poll()
    poller.register(fd, 0)  # no events asked for: POLLERR and POLLHUP are always reported
    return any(events & select.POLLERR for _, events in poller.poll(0))


def _follow(
    reader: LogReader, query: str, printer: Printer, floor_ns: int, printed: Sequence[LokiEntry]
) -> None:
    """Poll forever; print lines not printed before. Returns only by exception (Ctrl-C, errors,
    the reader of the output gone: BrokenPipeError, which ``cli.main`` turns into exit 141)."""
    keys = {entry.key(): entry.ts_ns for entry in printed}
    while True:
        time.sleep(FOLLOW_INTERVAL)
        if reader_gone(printer.out):
            raise BrokenPipeError("the reader of the output is gone")
        end_ns = time.time_ns()
        start_ns = max(floor_ns, end_ns - FOLLOW_OVERLAP_NS)
        page_start = start_ns
        while True:
            batch = reader.read(
                query, start_ns=page_start, end_ns=end_ns, limit=FOLLOW_PAGE, direction="forward"
            )
            fresh = [entry for entry in ordered(batch) if entry.key() not in keys]
            printer.print(fresh)
            keys.update((entry.key(), entry.ts_ns) for entry in fresh)
            if len(batch) < FOLLOW_PAGE:
                break
            last = max(entry.ts_ns for entry in batch)
            if last == page_start:  # one nanosecond holds a whole page: cannot page further
                break
            page_start = last
        # Entries older than the next window are never fetched again.
        for key in [key for key, ts in keys.items() if ts < start_ns]:
            del keys[key]


def run(args: argparse.Namespace) -> int:
    try:
        reader = reader_of(args)
        query = _query_of(args, reader)
    except UsageError as exc:
        _say(str(exc))
        return 2
    printer = Printer(raw=args.raw, out=sys.stdout)
    end_ns = time.time_ns()
    start_ns = end_ns - int(args.since * 1_000_000_000)
    if args.verbose:
        _say(f"{reader.language}: {query}")
        _say(
            f"{_range(start_ns, end_ns)}, the newest {args.limit} lines, from {reader.name} at {reader.shown}"
        )
    try:
        # Backward: with more lines than --limit, the newest ones are the interesting ones.
        entries = ordered(
            reader.read(query, start_ns=start_ns, end_ns=end_ns, limit=args.limit, direction="backward")
        )
        printer.print(entries)
        if len(entries) >= args.limit:
            _say(
                f"showing the newest {args.limit} lines; older ones may exist (raise --limit or shorten --since)"
            )
        if not args.follow:
            if not entries:
                _say(f"no log lines for {query} {_range(start_ns, end_ns)}")
            return 0
        if not entries:
            _say(f"no log lines yet for {query}; waiting for new ones (Ctrl-C to stop)")
        elif args.verbose:
            _say("following (Ctrl-C to stop)")
        floor_ns = entries[0].ts_ns if len(entries) >= args.limit else start_ns
        _follow(reader, query, printer, floor_ns, entries)
    except KeyboardInterrupt:
        return 0 if args.follow else 130
    except BackendUnreachable as exc:
        _say(
            f"cannot reach {reader.name} at {reader.shown} ({exc.reason}); is the stack running? "
            "See `otelbundle stack status`"
        )
        return 1
    except BackendHTTPError as exc:
        if exc.status == 400:
            _say(f"{reader.name} rejected the query {query}: {exc.body.strip()}")
            return 2
        _say(f"{reader.name} at {reader.shown} answered HTTP {exc.status}: {exc.body.strip()}")
        return 1
    except NotLogStreams as exc:
        _say(f"Loki answered {exc.result_type!r} for {query}: a metric query; this command prints log lines")
        return 2
    except logsql.NotLogLines as exc:
        _say(
            f"VictoriaLogs answered rows without _time ({', '.join(exc.fields) or 'no fields'}) for {query}: "
            "a stats or fields query; this command prints log lines"
        )
        return 2
    except BackendError as exc:
        _say(f"{exc} (query {query})")
        return 1
    return 0


def add_commands(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser(
        "logs",
        help="print log lines from the log store (one trace's, a service's): VictoriaLogs, or Loki",
        description=(
            "Print log lines stored in VictoriaLogs (the stack's default) or Loki, oldest first: time (local), "
            "service, severity, trace/span id prefixes, line. Exit 0 (also when nothing matched: a note goes to "
            "stderr), 1 when the store cannot be queried, 2 for a usage error, a query the store rejects or a "
            "query that returns statistics instead of lines, 141 when the reader stops early (`| head`)."
        ),
    )
    parser.add_argument("--trace-id", type=parse_trace_id, help="only the lines of this trace (any service)")
    parser.add_argument(
        "--service",
        action="append",
        metavar="NAME",
        help="only this service (a regular expression; repeat for several)",
    )
    parser.add_argument("--grep", metavar="TEXT", help="only lines containing TEXT (case-sensitive)")
    parser.add_argument(
        "--query",
        metavar="QUERY",
        help="run this query in the store's own language (LogsQL for VictoriaLogs, LogQL for Loki) instead of "
        "building one from the filters",
    )
    parser.add_argument(
        "--since",
        type=parse_duration,
        default=DEFAULT_SINCE,  # a string default goes through type= too
        metavar="DURATION",
        help=f"how far back to look, e.g. 30s, 15m, 2h, 1d (default {DEFAULT_SINCE})",
    )
    parser.add_argument(
        "--limit",
        type=line_count,
        default=DEFAULT_LIMIT,
        metavar="N",
        help=f"at most the newest N lines (default {DEFAULT_LIMIT})",
    )
    parser.add_argument(
        "-f",
        "--follow",
        action="store_true",
        help="keep printing new lines (polls every second) until Ctrl-C",
    )
    parser.add_argument(
        "--store",
        choices=LOG_STORES,
        default=None,
        help="the log store to read (default: $OTELBUNDLE_LOG_STORE, else the one the native stack runs, "
        "else victorialogs)",
    )
    parser.add_argument(
        "--url",
        type=parse_url,
        default=None,
        metavar="URL",
        help="the store's base URL (default: $OTELBUNDLE_VICTORIALOGS_URL or http://127.0.0.1:9428 for "
        f"VictoriaLogs, $OTELBUNDLE_LOKI_URL or {DEFAULT_LOKI} for Loki)",
    )
    parser.add_argument(
        "--loki",
        type=parse_url,
        default=None,
        metavar="URL",
        help="read Loki at URL (the same as --store loki --url URL)",
    )
    parser.add_argument("--raw", action="store_true", help="one JSON object per line, with all labels")
    parser.add_argument(
        "-v", "--verbose", action="store_true", help="print the query and time range to stderr"
    )
    parser.set_defaults(func=run)
