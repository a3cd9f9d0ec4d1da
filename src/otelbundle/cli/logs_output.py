"""How ``otelbundle logs`` prints the entries a store returned: one line each for a person, or JSON.

Kept apart from the command (:mod:`otelbundle.cli.logs`) and the stores
(:mod:`otelbundle.cli.logs_reader`): the same rendering whichever store answered.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timezone, tzinfo
from typing import TextIO

from otelbundle.cli.backends import LokiEntry

# Terminal control characters (colour codes in a logged access line, a stray ESC):
# shown escaped so a log line cannot restyle or rewrite the reader's terminal.
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")


def local_iso(ts_ns: int, tz: tzinfo | None = None) -> str:
    """``2025-11-28T06:14:03.123+01:00``: local time (or ``tz``), milliseconds, offset."""
    seconds, rest = divmod(ts_ns, 1_000_000_000)
    moment = datetime.fromtimestamp(seconds, tz=timezone.utc).astimezone(tz)
    return moment.replace(microsecond=rest // 1_000_000 * 1000).isoformat(timespec="milliseconds")


def _field(entry: LokiEntry, *names: str) -> str:
    # Structured metadata first; a Loki that does not categorize labels merges it into the stream.
    # Loki's names have underscores (service_name), VictoriaLogs keeps OpenTelemetry's (service.name).
    for name in names:
        for source in (entry.metadata, entry.labels, entry.parsed):
            if source.get(name):
                return source[name]
    return ""


_UNNAMED_LEVEL = re.compile(r"^LEVEL (\d+)$")


def format_entry(entry: LokiEntry, tz: tzinfo | None = None) -> str:
    """One line for a person: time, service, severity, trace/span id prefixes, the line.

    Continuation lines of a multi-line entry (a stack trace) are indented; control
    characters are escaped (``\\x1b``).
    """
    service = _field(entry, "service_name", "service.name") or "-"
    severity = (_field(entry, "severity_text", "severity", "detected_level", "level") or "-").upper()
    # A level logging has no name for (`log.log(25, ...)`) is "Level 25": L25 keeps the column.
    severity = _UNNAMED_LEVEL.sub(r"L\1", severity)
    trace_id = _field(entry, "trace_id")[:8]
    span_id = _field(entry, "span_id")[:8]
    ids = f"{trace_id or '-':<8}/{span_id or '-':<8}" if trace_id or span_id else f"{'-':<17}"
    text = _CONTROL.sub(lambda match: f"\\x{ord(match.group()):02x}", entry.line.rstrip("\n"))
    first, *rest = text.split("\n")
    head = f"{local_iso(entry.ts_ns, tz)} {service:<10} {severity:<5} {ids} {first}"
    return "\n".join([head, *("    " + line for line in rest)])


def raw_entry(entry: LokiEntry, tz: tzinfo | None = None) -> str:
    """One JSON object per entry, everything the store returned for it (VictoriaLogs: stream
    fields as labels, every other field as metadata)."""
    return json.dumps(
        {
            "ts": str(entry.ts_ns),
            "time": local_iso(entry.ts_ns, tz),
            "labels": entry.labels,
            "metadata": entry.metadata,
            "parsed": entry.parsed,
            "line": entry.line,
        },
        ensure_ascii=False,
    )


def ordered(entries: Iterable[LokiEntry]) -> list[LokiEntry]:
    """Oldest first; ties broken by labels and text so every run prints the same order."""
    return sorted(entries, key=LokiEntry.key)


@dataclass
class Printer:
    raw: bool
    out: TextIO
    tz: tzinfo | None = None

    def print(self, entries: Sequence[LokiEntry]) -> None:
        render = raw_entry if self.raw else format_entry
        for entry in entries:
            self.out.write(render(entry, self.tz) + "\n")
        self.out.flush()
