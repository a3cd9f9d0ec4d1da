"""AlertingSpanProcessor: hands every finished span to the alert engine's thread.

``on_end`` runs on the application's thread, so all it does is append the span
to a bounded queue (as the SDK's BatchSpanProcessor does): no rule matching, no
locks, no I/O. When a span lands in an *empty* queue it also wakes the engine
thread (``wakeup``, one ``Event.set``); spans that follow find the queue
non-empty and only append, until the thread has drained it. The thread folds at
most once per ``min_fold_interval`` (manager.py), so under load the cost is one
wake per fold, not one per span. A full queue drops its oldest span and counts it.

The engine thread folds each batch into the rules' windows (batch.py) and
evaluates the keys that may now hold (engine.py ``Engine.fold``).
"""

from __future__ import annotations

import contextlib
import logging
import threading
from collections import deque
from collections.abc import Callable, Iterable
from itertools import repeat, starmap

from opentelemetry.context import Context
from opentelemetry.sdk.trace import ReadableSpan, Span, SpanProcessor

from otelbundle.alerting.batch import PlanCache, fold
from otelbundle.alerting.state import RuleState
from otelbundle.config.report import warn_seen

_log = logging.getLogger("otelbundle.alerting")
DEFAULT_QUEUE_SIZE = 8192


class AlertingSpanProcessor(SpanProcessor):
    """Installed through the SDK configurator's ``span_processors=`` argument.

    ``wakeup`` is called when a span lands in an empty queue (and on every span
    while the queue is full); the engine passes its own.
    """

    def __init__(
        self,
        states: Iterable[RuleState],
        *,
        queue_size: int = DEFAULT_QUEUE_SIZE,
        wakeup: Callable[[], None] | None = None,
    ) -> None:
        self._plans = PlanCache(states)
        self._capacity = max(1, queue_size)
        self._queue: deque[ReadableSpan] = deque(maxlen=self._capacity)
        self.wakeup = wakeup
        self._drop_lock = threading.Lock()
        self._drain_lock = threading.Lock()
        self.spans_dropped = 0
        self.spans_folded = 0
        self.errors = 0

    def after_fork_in_child(self) -> None:
        """The parent's queued spans are the parent's; its locks may have been held at fork."""
        self._queue = deque(maxlen=self._capacity)
        self._drop_lock, self._drain_lock = threading.Lock(), threading.Lock()
        self.spans_dropped = self.spans_folded = self.errors = 0

    def resize(self, queue_size: int) -> None:
        """A new capacity (before spans flow: queued spans beyond it are dropped)."""
        self._capacity = max(1, queue_size)
        self._queue = deque(self._queue, maxlen=self._capacity)

    @property
    def spans_seen(self) -> int:
        """Every span handed to on_end: folded, dropped, or still queued."""
        return self.spans_folded + self.spans_dropped + len(self._queue)

    @property
    def queued(self) -> int:
        return len(self._queue)

    def replace_rules(self, states: Iterable[RuleState]) -> None:
        """Swap in a new rule set (reload); one reference assignment, safe against a running drain."""
        self._plans = PlanCache(states)

    def on_start(self, span: Span, parent_context: Context | None = None) -> None:
        return None

    def on_end(self, span: ReadableSpan) -> None:
        try:
            queue = self._queue
            queued = len(queue)
            if 0 < queued < self._capacity:  # the common case: one length check and an append
                queue.append(span)
                return
            if queued:  # full: the deque drops its oldest on append
                with self._drop_lock:
                    self.spans_dropped += 1
            queue.append(span)
            wakeup = self.wakeup
            if wakeup is not None:  # the queue was empty (or full): the engine thread must come
                wakeup()
        except Exception:  # the application must never see our failure
            self._failed(1)

    def drain(self, now: float) -> int:
        """Fold every queued span into the windows at ``now`` (engine thread); returns how many."""
        with self._drain_lock:
            queue = self._queue
            batch: list[ReadableSpan] = []
            # One popleft per queued span, in a C loop. Only this drain shortens the
            # queue (a full one drops its oldest as it appends), so all are there;
            # were one not, extend keeps what it took before the IndexError.
            with contextlib.suppress(IndexError):
                batch.extend(starmap(queue.popleft, repeat((), len(queue))))
            try:
                fold(batch, self._plans, now, self._failed)
            except Exception:
                self._failed(len(batch))
            self.spans_folded += len(batch)
            return len(batch)

    def _failed(self, count: int) -> None:
        first = self.errors == 0
        self.errors += count
        if first:
            warn_seen(
                _log,
                "otelbundle: alert rule evaluation of a span failed; counting further failures",
                exc_info=True,
            )

    def shutdown(self) -> None:
        return None

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        return True
