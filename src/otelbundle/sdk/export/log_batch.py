"""The distro's batch processor for log records: bounded, counted, no copy of each record.

Installed through the SDK's ``export_log_record_processor`` argument in place of
the SDK's ``BatchLogRecordProcessor``, with the same variables
(``OTEL_BLRP_SCHEDULE_DELAY``, ``OTEL_BLRP_MAX_EXPORT_BATCH_SIZE``,
``OTEL_BLRP_MAX_QUEUE_SIZE``). Why a processor of ours: the SDK's copies every
record it takes (``copy.copy`` of the API record, a new ``Context``, a
``ReadableLogRecord``: 3 µs, a third of translating a line), and its queue needs
a second, locked count in front of it to refuse and count what it cannot hold.
Here the queue is the count: a record is admitted while the queue holds fewer
than its size, else refused and counted (``DropReport.refused``). This processor
is the last on the LoggerProvider, so the record it keeps is not changed after
it by another processor; the readable record it makes carries the resource with
its hash computed once (:mod:`otelbundle.sdk.export.resource_once`), which saves
the encoder 6 µs a record.

Its thread exports a batch when ``max_export_batch_size`` records are queued or
the schedule delay has passed (a batch is cut short where its string bodies pass
:data:`BATCH_BODY_BUDGET`, so a huge line refused by the collector is lost alone),
through the export wrapper (scrubbing step, the
export counted on the drop report), with instrumentation suppressed so the
export's own HTTP request is not traced. ``force_flush`` exports everything on the
calling thread; ``shutdown`` stops the thread after a last export. In a forked
child the queue starts empty (the parent exports what it held) and a thread of
its own starts.
"""

from __future__ import annotations

import collections
import logging
import operator
import os
import sys
import threading
import time
from collections.abc import Mapping

from opentelemetry.instrumentation.utils import suppress_instrumentation
from opentelemetry.sdk._logs import LogRecordProcessor, ReadableLogRecord, ReadWriteLogRecord
from opentelemetry.sdk._logs.export import LogRecordExporter, LogRecordExportResult
from opentelemetry.sdk.resources import Resource

from otelbundle.config import environment
from otelbundle.sdk import forking
from otelbundle.sdk.export.report import DropReport, ExportLogFold
from otelbundle.sdk.export.resource_once import ResourceCache
from otelbundle.sdk.export.wrapper import LOGS, BatchStep, ExportWrapper

_log = logging.getLogger("otelbundle")

# Characters of string and bytes bodies a batch may carry before it is cut: a collector refuses
# a request over its size limit (the OpenTelemetry Collector answers 400 over its default 20 MiB) and the
# whole batch is lost with it. Cut below that, an oversized record is exported in a batch of its
# own, and a refusal loses that record alone, not the records logged beside it.
BATCH_BODY_BUDGET = 4 * 1024 * 1024


class LogBatchProcessor(LogRecordProcessor):
    """Batches log records for one exporter; see the module docstring."""

    def __init__(
        self,
        exporter: LogRecordExporter,
        report: DropReport,
        fold: ExportLogFold | None = None,
        prepare: BatchStep[ReadableLogRecord] | None = None,
        env: Mapping[str, str] | None = None,
    ) -> None:
        env = os.environ if env is None else env
        self.capacity = environment.queue_size(env, "OTEL_BLRP_MAX_QUEUE_SIZE")
        self.batch_size = min(self.capacity, environment.positive_int(env, "OTEL_BLRP_MAX_EXPORT_BATCH_SIZE"))
        self.delay = environment.positive_int(env, "OTEL_BLRP_SCHEDULE_DELAY") / 1000
        self.shutdown_wait = environment.positive_int(env, "OTEL_BLRP_EXPORT_TIMEOUT") / 1000
        self._report = report
        self._wrapper: ExportWrapper[ReadableLogRecord, LogRecordExportResult] = ExportWrapper(
            LOGS, exporter, prepare=prepare, report=report, fold=fold
        )
        self._resources = ResourceCache()
        empty = self._resources.get(Resource.get_empty())
        self._last_resource: tuple[Resource | None, Resource] = (None, empty)
        self._queue: collections.deque[ReadableLogRecord] = collections.deque()
        self._wake = threading.Event()
        self._export_lock = threading.Lock()
        self._shutdown = False
        self._thread = self._start_thread()
        self._fork_hook = f"log-batch-{id(self)}"
        forking.on_child(self._fork_hook, self._after_fork_in_child)

    # ---- the emitting thread (the log translator, or whoever emits to the SDK logger) ----
    def on_emit(self, log_record: ReadWriteLogRecord) -> None:
        if self._shutdown:
            return  # the SDK's processor would ignore it too (and log a line per record)
        queue = self._queue
        if len(queue) >= self.capacity:
            self._report.refused(LOGS.name)
            return
        resource = log_record.resource
        seen = self._last_resource  # one provider: nearly always the resource of the record before
        if seen[0] is resource:
            hashed = seen[1]
        else:
            hashed = self._resources.get(resource if resource is not None else Resource.get_empty())
            self._last_resource = (resource, hashed)
        # Positional: the frozen dataclass's keyword call costs a third more, per record.
        queue.append(
            ReadableLogRecord(
                log_record.log_record, hashed, log_record.instrumentation_scope, log_record.limits
            )
        )
        if len(queue) >= self.batch_size and not self._wake.is_set():
            self._wake.set()

    # ---- the export thread -----------------------------------------------------------
    def _start_thread(self) -> threading.Thread:
        thread = threading.Thread(target=self._run, name="otelbundle-log-export", daemon=True)
        thread.start()
        return thread

    def _run(self) -> None:
        while not self._shutdown:
            woken = self._wake.wait(self.delay)
            self._wake.clear()
            if self._shutdown:
                break
            # Woken by a full batch: export full batches; the delay passed: export what there is.
            self._export(whole=not woken)
        self._export(whole=True)

    def _export(self, whole: bool, deadline: float | None = None, limit: int | None = None) -> bool:
        """Export batches off the queue, oldest first; False when ``deadline`` stopped it.

        ``limit``: at most that many records (a flush takes what was queued when it was
        called; records that keep arriving are the export thread's, not the flush's)."""
        queue = self._queue
        left = sys.maxsize if limit is None else limit
        with self._export_lock:
            while queue and left > 0 and (whole or len(queue) >= self.batch_size):
                if deadline is not None and time.monotonic() >= deadline:
                    return False
                batch = _take(queue, min(self.batch_size, len(queue), left))
                left -= len(batch)
                try:
                    with suppress_instrumentation():
                        self._wrapper.export(batch)  # counts the batch as exported or dropped
                except Exception:  # never let the thread die of one batch
                    _log.debug("otelbundle: log export failed", exc_info=True)
        return True

    # ---- flush, shutdown, fork ----------------------------------------------------------
    def force_flush(self, timeout_millis: int = 30000) -> bool:
        if self._shutdown:
            return False
        deadline = time.monotonic() + timeout_millis / 1000
        return self._export(whole=True, deadline=deadline, limit=len(self._queue))

    def shutdown(self) -> None:
        if self._shutdown:
            return
        self._shutdown = True
        forking.remove(self._fork_hook)
        self._wake.set()
        if self._thread is not threading.current_thread():
            self._thread.join(self.shutdown_wait)  # its last export
        self._wrapper.shutdown()

    @property
    def pending(self) -> int:
        return len(self._queue)

    def _after_fork_in_child(self) -> None:
        self._queue.clear()
        self._wake = threading.Event()
        self._export_lock = threading.Lock()
        if not self._shutdown:
            self._thread = self._start_thread()


_BODY = operator.attrgetter("log_record.body")


def _take(queue: collections.deque[ReadableLogRecord], most: int) -> list[ReadableLogRecord]:
    """Up to ``most`` records off the queue, oldest first, stopping before the one whose body
    would take the batch past :data:`BATCH_BODY_BUDGET` (a first record is always taken).

    Nearly every batch is far below it: its bodies are measured in C loops (``sum`` of ``len``)
    and it is taken whole; only an oversized one is walked record by record, and the records
    after the cut go back to the front of the queue, in order."""
    batch = [queue.popleft() for _ in range(most)]
    try:
        if sum(map(len, map(_BODY, batch))) <= BATCH_BODY_BUDGET:
            return batch
    except TypeError:  # a body without a length (a number, None): walked below
        pass
    kept, size = 0, 0
    for record in batch:
        body = record.log_record.body
        size += len(body) if isinstance(body, (str, bytes)) else 0
        if kept and size > BATCH_BODY_BUDGET:
            break
        kept += 1
    queue.extendleft(reversed(batch[kept:]))
    return batch[:kept]
