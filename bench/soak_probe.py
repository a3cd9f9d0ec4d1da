"""Run an app under ``opentelemetry-instrument`` with a sampler thread beside it (for bench/soak_app.py).

    opentelemetry-instrument python bench/soak_probe.py OUT.jsonl examples/inventory/app.py

Started as the program, after the wrapper's sitecustomize set up the SDK, so it sees the
app exactly as a user's run would be; it starts ``tracemalloc`` (1 frame: allocation
sites), counts the spans and log records the SDK ends and emits through the providers'
public ``add_span_processor`` / ``add_log_record_processor`` (the "sent" side of the
soak's sent-vs-received), then runs the app as ``__main__``. Every ``SOAK_PROBE_INTERVAL``
seconds (30) one JSON line goes to OUT: threads by name, the counts, and (unless
``SOAK_TRACEMALLOC=0``: its own memory and the snapshots' time inflate RSS) traced heap, the heap by file for otelbundle and
opentelemetry, the top growth by file:line since the first sample.
"""

from __future__ import annotations

import collections
import json
import os
import runpy
import sys
import threading
import time
import tracemalloc
from typing import Any

from opentelemetry import trace
from opentelemetry._logs import get_logger_provider
from opentelemetry.sdk._logs import LogRecordProcessor
from opentelemetry.sdk.trace import SpanProcessor

FRAMES = 1
TOP = 12


class _Count(SpanProcessor, LogRecordProcessor):
    """Counts what the SDK hands to processors; nothing else (no lock: += under the GIL is close enough)."""

    def __init__(self) -> None:
        self.spans = 0
        self.logs = 0

    def on_end(self, span: Any) -> None:
        self.spans += 1

    def on_emit(self, log_record: Any) -> None:  # type: ignore[override]
        self.logs += 1

    emit = on_emit

    def shutdown(self) -> None:
        return None

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        return True


def _by_file(snapshot: tracemalloc.Snapshot, marker: str) -> int:
    return sum(s.size for s in snapshot.statistics("filename") if marker in s.traceback[0].filename)


def _short(filename: str) -> str:
    for marker in ("otelbundle/", "opentelemetry/", "site-packages/", "python3.11/"):
        if marker in filename:
            return filename[filename.index(marker) :]
    return filename


def _sample(out: str, interval: float, counter: _Count) -> None:
    first: tracemalloc.Snapshot | None = None
    started = time.monotonic()
    while True:
        time.sleep(interval)
        if not tracemalloc.is_tracing():  # SOAK_TRACEMALLOC=0: counts and threads only
            _write(out, {"t": round(time.monotonic() - started, 1), **_counts(counter)})
            continue
        snapshot = tracemalloc.take_snapshot().filter_traces(
            (tracemalloc.Filter(False, tracemalloc.__file__), tracemalloc.Filter(False, "<unknown>"))
        )
        if first is None:
            first = snapshot
        growth = snapshot.compare_to(first, "lineno")[:TOP]
        row = {
            "t": round(time.monotonic() - started, 1),
            "heap": tracemalloc.get_traced_memory()[0],
            "heap_otelbundle": _by_file(snapshot, "/otelbundle/"),
            "heap_opentelemetry": _by_file(snapshot, "/opentelemetry/"),
            **_counts(counter),
            "growth": [
                [f"{_short(s.traceback[0].filename)}:{s.traceback[0].lineno}", s.size_diff, s.count_diff]
                for s in growth
            ],
        }
        _write(out, row)


def _counts(counter: _Count) -> dict[str, Any]:
    names = collections.Counter(t.name.rstrip("0123456789-_ ") for t in threading.enumerate())
    return {
        "threads": threading.active_count(),
        "thread_names": dict(names),
        "spans_ended": counter.spans,
        "logs_emitted": counter.logs,
    }


def _write(out: str, row: dict[str, Any]) -> None:
    with open(out, "a", encoding="utf-8") as sink:
        sink.write(json.dumps(row) + "\n")


def main() -> None:
    out, app = sys.argv[1], sys.argv[2]
    if os.environ.get("SOAK_TRACEMALLOC", "1") != "0":
        tracemalloc.start(FRAMES)
    counter = _Count()
    trace.get_tracer_provider().add_span_processor(counter)  # type: ignore[attr-defined]
    get_logger_provider().add_log_record_processor(counter)  # type: ignore[attr-defined]
    interval = float(os.environ.get("SOAK_PROBE_INTERVAL", "30"))
    threading.Thread(target=_sample, args=(out, interval, counter), name="soak-probe", daemon=True).start()
    sys.argv = [app]
    runpy.run_path(app, run_name="__main__")


if __name__ == "__main__":
    main()
