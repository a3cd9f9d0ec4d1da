"""AlertingSpanProcessor: hands every finished span to the alert engine's thread.

``on_end`` runs on the application's thread, so all it does is append the span
to a bounded queue (as the SDK's BatchSpanProcessor does): no rule matching, no
locks, no I/O. The engine thread drains the queue before every evaluation, and
early when it is a quarter full, and folds the batch into the rules' windows
(batch.py). A full queue drops its oldest span and counts it.

A span therefore counts from the drain after it ends: at most one evaluation
interval late, which the windows (ten buckets per window) absorb.
"""

from __future__ import annotations

import logging
import threading
from collections import deque
from collections.abc import Callable, Iterable

from opentelemetry.context import Context
from opentelemetry.sdk.trace import ReadableSpan, Span, SpanProcessor

from otelbundle.alerting.batch import PlanCache, fold
from otelbundle.alerting.state import RuleState

_log = logging.getLogger("otelbundle.alerting")
DEFAULT_QUEUE_SIZE = 8192


class AlertingSpanProcessor(SpanProcessor):
    """Installed through the SDK configurator's ``span_processors=`` argument.

    ``wakeup`` is called (once per fill) when the queue is a quarter full, so the
    engine drains it before it overflows; the engine passes its own.
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
        self._wake_at = max(1, self._capacity // 4)
        self._wake_requested = False
        self.wakeup = wakeup
        self._drop_lock = threading.Lock()
        self._drain_lock = threading.Lock()
        self.spans_dropped = 0
        self.spans_folded = 0
        self.errors = 0

    def after_fork_in_child(self) -> None:
        """The parent's queued spans are the parent's; its locks may have been held at fork."""
        self._queue = deque(maxlen=self._capacity)
        self._wake_requested = False
        self._drop_lock, self._drain_lock = threading.Lock(), threading.Lock()
        self.spans_dropped = self.spans_folded = self.errors = 0

    def resize(self, queue_size: int) -> None:
        """A new capacity (before spans flow: queued spans beyond it are dropped)."""
        self._capacity = max(1, queue_size)
        self._queue = deque(self._queue, maxlen=self._capacity)
        self._wake_at = max(1, self._capacity // 4)

    @property
    def spans_seen(self) -> int:
        """Every span handed to on_end: folded, dropped, or still queued."""
        return self.spans_folded + self.spans_dropped + len(self._queue)

    def replace_rules(self, states: Iterable[RuleState]) -> None:
        """Swap in a new rule set (reload); one reference assignment, safe against a running drain."""
        self._plans = PlanCache(states)

    def on_start(self, span: Span, parent_context: Context | None = None) -> None:
        return None

    def on_end(self, span: ReadableSpan) -> None:
        try:
            queue = self._queue
            if len(queue) < self._wake_at:  # the common case: one length check and an append
                queue.append(span)
                return
            if len(queue) >= self._capacity:  # the deque drops its oldest on append
                with self._drop_lock:
                    self.spans_dropped += 1
            queue.append(span)
            if not self._wake_requested and self.wakeup is not None:
                self._wake_requested = True
                self.wakeup()
        except Exception:  # the application must never see our failure
            self._failed(1)

    def drain(self, now: float) -> int:
        """Fold every queued span into the windows at ``now`` (engine thread); returns how many."""
        with self._drain_lock:
            self._wake_requested = False
            queue = self._queue
            pop = queue.popleft
            batch: list[ReadableSpan] = []
            try:
                for _ in range(len(queue)):
                    batch.append(pop())
            except IndexError:  # on_end dropped the oldest of a full queue meanwhile
                pass
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
            _log.warning(
                "otelbundle: alert rule evaluation of a span failed; counting further failures",
                exc_info=True,
            )

    def shutdown(self) -> None:
        return None

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        return True
