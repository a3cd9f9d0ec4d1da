"""VictoriaLogs' query API for `otelbundle logs` and the demo: LogsQL in, log entries out.

``/select/logsql/query`` answers one JSON object per line: ``_time`` (RFC 3339,
nanoseconds), ``_msg`` (the log line), ``_stream`` (the stream fields, e.g.
``{service.name="storefront"}``) and every other field (trace_id, span_id,
severity, resource and log attributes). With ``limit`` it returns the newest
entries of the range. Standard library only, like :mod:`otelbundle.cli.backends`.
"""

from __future__ import annotations

import json
import re
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Sequence
from datetime import datetime, timezone

from otelbundle.cli.backends import BackendError, BackendHTTPError, BackendUnreachable, LokiEntry
from otelbundle.cli.stack.logstore import logsql_string

_PLAIN_NAME = re.compile(r"[\w.-]+")
_STREAM_FIELD = re.compile(r'([^{}=,\s]+)="((?:[^"\\]|\\.)*)"')
_RFC3339 = re.compile(r"(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)(?:\.(\d{1,9}))?(Z|[+-]\d\d:\d\d)")
_INTERNAL = ("_time", "_msg", "_stream", "_stream_id")


def build_logsql(trace_id: str | None = None, services: Sequence[str] = (), grep: str | None = None) -> str:
    """The LogsQL for the filters (the same ones `otelbundle logs` builds LogQL from for Loki).

    service.name is the stream field; each service is a regular expression matched against
    the whole name, several are alternatives; without one, every entry matches.
    """
    filters: list[str] = []
    if len(services) == 1 and _PLAIN_NAME.fullmatch(services[0]):
        filters.append(f"service.name:={logsql_string(services[0])}")
    elif services:
        filters.append(f"service.name:~{logsql_string('^(?:' + '|'.join(services) + ')$')}")
    if trace_id:
        filters.append(f"trace_id:={logsql_string(trace_id)}")
    if grep:
        # Case-sensitive substring of the line, as LogQL's |= is.
        filters.append(f"_msg:~{logsql_string(re.escape(grep))}")
    return " ".join(filters) if filters else "*"


def rfc3339_ns(ts_ns: int) -> str:
    """A timestamp VictoriaLogs takes for start/end, to the nanosecond."""
    seconds, rest = divmod(ts_ns, 1_000_000_000)
    moment = datetime.fromtimestamp(seconds, tz=timezone.utc)
    return moment.strftime("%Y-%m-%dT%H:%M:%S") + f".{rest:09d}Z"


def parse_time_ns(text: str) -> int:
    """Nanoseconds since the epoch of an RFC 3339 time with up to 9 fractional digits."""
    match = _RFC3339.fullmatch(text)
    if not match:
        raise BackendError(f"unexpected _time {text!r} from VictoriaLogs")
    whole, fraction, zone = match.groups()
    moment = datetime.fromisoformat(whole + ("+00:00" if zone == "Z" else zone))
    return int(moment.timestamp()) * 1_000_000_000 + int((fraction or "0").ljust(9, "0"))


def stream_fields(text: str) -> dict[str, str]:
    """``{service.name="storefront"}`` -> {"service.name": "storefront"}."""
    return {name: json.loads(f'"{value}"') for name, value in _STREAM_FIELD.findall(text)}


def entries(body: bytes | str) -> list[LokiEntry]:
    """The entries of a /select/logsql/query answer, in its order.

    Stream fields go to ``labels``, every other field to ``metadata``; a query that
    drops ``_time`` or ``_msg`` (``| stats ...``) is not a list of log lines.
    """
    text = body.decode("utf-8", "replace") if isinstance(body, bytes) else body
    found: list[LokiEntry] = []
    for number, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except ValueError as exc:
            raise BackendError(
                f"line {number} of VictoriaLogs' answer is not JSON ({exc}): {line[:200]}"
            ) from None
        if not isinstance(row, dict) or "_time" not in row:
            raise NotLogLines(sorted(row) if isinstance(row, dict) else [])
        fields = {k: str(v) for k, v in row.items() if k not in _INTERNAL}
        found.append(
            LokiEntry(
                ts_ns=parse_time_ns(str(row["_time"])),
                line=str(row.get("_msg", "")),
                labels=stream_fields(str(row.get("_stream", ""))),
                metadata=fields,
                parsed={},
            )
        )
    return found


class NotLogLines(BackendError):
    """The query's rows have no ``_time``: a ``| stats`` or ``| fields`` query, not log lines."""

    def __init__(self, fields: list[str]) -> None:
        super().__init__(f"expected log lines from VictoriaLogs, got rows with fields {fields}")
        self.fields = fields


def query(
    base: str,
    logsql: str,
    *,
    start_ns: int,
    end_ns: int,
    limit: int,
    direction: str = "backward",
    timeout: float = 30.0,
    headers: dict[str, str] | None = None,
) -> list[LokiEntry]:
    """``limit`` entries of ``logsql`` in [start_ns, end_ns]: the newest (backward) or the oldest (forward)."""
    params = {
        "query": logsql,
        "start": rfc3339_ns(start_ns),
        "end": rfc3339_ns(end_ns + 1),  # VictoriaLogs' end is exclusive
    }
    if direction == "forward":
        # The API's limit keeps the newest; the oldest first need the pipes spelled out.
        params["query"] = f"{logsql} | sort by (_time) | limit {limit}"
    else:
        params["limit"] = str(limit)
    url = f"{base.rstrip('/')}/select/logsql/query"
    request = urllib.request.Request(
        url, data=urllib.parse.urlencode(params).encode(), headers=headers or {}, method="POST"
    )
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            body = response.read()
    except urllib.error.HTTPError as exc:
        text = exc.read().decode("utf-8", "replace")[:300]
        raise BackendHTTPError(f"POST {url} -> HTTP {exc.code}: {text}", exc.code, text) from None
    except urllib.error.URLError as exc:
        raise BackendUnreachable(f"POST {url} failed: {exc}", str(exc.reason)) from None
    except OSError as exc:
        raise BackendUnreachable(f"POST {url} failed: {exc}", str(exc)) from None
    return entries(body)


def lines(base: str, logsql: str, since_seconds: int = 3600, limit: int = 1000) -> list[str]:
    """The log lines of ``logsql`` over the last ``since_seconds``, oldest first (demo and tests)."""
    now = time.time_ns()
    found = query(base, logsql, start_ns=now - since_seconds * 1_000_000_000, end_ns=now, limit=limit)
    return [entry.line for entry in sorted(found, key=LokiEntry.key)]
