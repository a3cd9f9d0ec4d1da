"""Delivery off the application's threads: one worker and one bounded queue per channel.

``submit`` routes each alert to the channels whose ``match:`` holds (and whose
``repeat_interval`` allows it, routing.py), then only appends to in-memory
queues (O(channels), never blocks). An alert no channel takes is counted
(``unrouted``) and said once per alert name. A full queue drops its *oldest*
batch and counts it. Each channel has its own thread, so a slow or dead
channel never delays the others. Retries use exponential backoff with jitter,
or wait at least what a Retry-After asks (giving up when it asks for more than
a retry may wait); only the deadline or shutdown ends a wait, never a new
batch. Other 4xx give up at once, logged once per channel and message.

Every duration here (repeat_interval, backoff, flush and shutdown deadlines) is
read from the monotonic clock: an NTP step of the wall clock back by an hour
would otherwise hold every re-send back for an hour, and one forward let them
all through at once. Timestamps that leave the process (``startsAt``, bodies)
are the alerts' own, wall time set by the engine (alerting/clock.py).

Those lines go to the ``otelbundle.alerting`` logger (exported with the app's
logs), and also to stderr when the app's logging shows that logger on no
console: under the distro the root logger has only the OTLP handler, and a
channel that fails would otherwise be seen by nobody running the service. At
shutdown, a channel that lost notifications says so in one line on stderr.
"""

from __future__ import annotations

import logging
import random
import re
import threading
import time
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace

from opentelemetry.instrumentation.utils import suppress_instrumentation

from otelbundle.alerting.alert import Alert
from otelbundle.alerting.notify.base import Notifier, PermanentError, RetryableError
from otelbundle.alerting.notify.routing import Channel, as_channel
from otelbundle.config.report import diagnostics_logger, enabled, shown_on_console, warn_seen

_log = logging.getLogger("otelbundle.alerting")


@dataclass
class NotifierStats:
    """Per channel. ``sent``/``failed``/``dropped`` count batches (one per dispatch, however many
    requests it took); the ``alerts_*`` fields count the alerts in them, so a dispatch of 600 of
    which one chunk of 256 was refused shows as 344 sent and 256 failed, not as one failed batch.
    An alert counts failed when it was given up and handed back to the channel (chunks.py)."""

    sent: int = 0
    failed: int = 0
    dropped: int = 0
    retried: int = 0
    alerts_sent: int = 0
    alerts_failed: int = 0
    alerts_dropped: int = 0


MAX_DELAY = 60.0  # the longest one retry waits; a Retry-After asking for more is given up on
_FLUSH_SHARE = 0.75  # of shutdown's timeout; the rest is for the last attempt of a channel waiting to retry


def backoff_delay(
    attempt: int, base_delay: float, retry_after: float | None, jitter: float | None = None
) -> float:
    """Seconds before retry ``attempt + 1``, jittered so many processes do not retry in lock-step.

    Without Retry-After: base * 2**attempt, ±20 %, capped at MAX_DELAY. With it: never sooner
    (the server said when it will take us again), up to 20 % later, and not capped: the
    caller gives up on a wait longer than MAX_DELAY rather than retry too early.
    """
    if retry_after is None:
        factor = random.uniform(0.8, 1.2) if jitter is None else jitter
        return min(base_delay * 2.0**attempt * factor, MAX_DELAY)
    factor = random.uniform(1.0, 1.2) if jitter is None else max(1.0, jitter)
    return max(retry_after, min(retry_after * factor, MAX_DELAY))


class _Worker:
    def __init__(self, notifier: Channel, queue_size: int, max_retries: int, base_delay: float) -> None:
        self.notifier = notifier
        self.queue: deque[Sequence[Alert]] = deque()
        self.queue_size = queue_size
        self.max_retries = max_retries
        self.base_delay = base_delay
        self.stats = NotifierStats()
        self.wake = threading.Condition()
        self.stopping = False
        self.exiting = False  # shutdown has begun: a channel where nothing listens is not retried
        self.busy = False
        self.in_flight: Sequence[Alert] = ()  # the batch being sent: the exit summary counts it
        self.unchosen = 0  # batches whose alerts could not even be chosen (a routing defect)
        self.quiet_until = 0.0  # a Retry-After past MAX_DELAY: nothing goes to the channel before it
        self.logged: set[str] = set()
        self.thread = self._start()

    def _start(self) -> threading.Thread:
        thread = threading.Thread(
            target=self.run, name=f"otelbundle-notify-{self.notifier.name}", daemon=True
        )
        thread.start()
        return thread

    def after_fork_in_child(self) -> None:
        """Threads do not survive fork(): a fresh condition (the parent's may have been
        held), no inherited batches (the parent still delivers them), a new thread."""
        self.wake = threading.Condition()
        self.queue.clear()
        self.stopping = self.busy = False
        self.in_flight = ()
        self.notifier.after_fork_in_child()
        self.thread = self._start()

    def submit(self, alerts: Sequence[Alert]) -> None:
        with self.wake:
            if len(self.queue) >= self.queue_size:
                oldest = self.queue.popleft()
                self.stats.dropped += 1
                self.stats.alerts_dropped += len(oldest)
                self.notifier.undelivered(oldest)
            self.queue.append(alerts)
            self.wake.notify()

    def run(self) -> None:
        while True:
            with self.wake:
                while not self.queue and not self.stopping:
                    self.wake.wait()
                if not self.queue:
                    return
            if self._keep_quiet():  # shutdown came first: what is queued stays unsent, counted
                return
            with self.wake:
                batch = self.queue.popleft()
                self.busy = True
                self.in_flight = batch
            try:
                self.deliver(batch)
            finally:
                with self.wake:
                    self.busy = False
                    self.in_flight = ()
                    self.wake.notify_all()

    def deliver(self, batch: Sequence[Alert]) -> None:
        """Counts the batch once: ``sent`` when all of it went out, else ``failed``; what was
        given up on is handed back to the channel, so its repeat_interval does not hold it back,
        and counts in ``alerts_failed``; the rest in ``alerts_sent``.

        With instrumentation suppressed: a channel's own HTTP request (urllib, smtplib) is not
        the application's. Traced, each notification was an app span, and a failed one an error
        span that the rules then alerted on, the channel alerting about itself."""
        with suppress_instrumentation():
            unsent, failed = self._attempt(batch)
        with self.wake:  # one step with the batch leaving in_flight: the exit summary reads both
            self._count(batch, unsent, failed)
            self.in_flight = ()
        if unsent:
            try:
                self.notifier.undelivered(unsent)
            except Exception:  # bookkeeping only: the thread must go on
                _log.debug(
                    "otelbundle: %s: forgetting an undelivered batch failed",
                    self.notifier.name,
                    exc_info=True,
                )

    def _count(self, batch: Sequence[Alert], unsent: Sequence[Alert], failed: bool) -> None:
        """The batch's outcome in the stats, all at once (under ``wake``): counted piecemeal,
        a summary read in between saw a failed batch without its alerts."""
        if failed:
            self.stats.failed += 1
        else:
            self.stats.sent += 1
        self.stats.alerts_failed += len(unsent)
        self.stats.alerts_sent += len(batch) - len(unsent)

    def _attempt(self, batch: Sequence[Alert]) -> tuple[Sequence[Alert], bool]:
        """Sends ``batch`` with retries; returns what was not delivered (the alerts a retry still
        needed and those refused on the way, or the whole batch when part of it was given up on
        and the notifier did not say which part: a ``lost`` without ``refused``) and whether the
        batch counts failed (a mail some recipients refused is failed with nothing undelivered)."""
        lost = False  # part of the batch was given up on (RetryableError.lost)
        given_up: list[Alert] | None = []  # the alerts of those parts; None: not known
        whole = batch
        for attempt in range(self.max_retries + 1):
            try:
                self.notifier.send(batch)
                if lost:
                    return (whole if given_up is None else given_up), True
                return (), False
            except PermanentError as exc:
                self._log_once(f"{self.notifier.name}: giving up on a notification: {exc}")
                if exc.delivered:
                    return (), True
                if given_up is None:
                    return whole, True
                return [*given_up, *(batch if exc.refused is None else exc.refused)], True
            except RetryableError as exc:
                if exc.lost is not None:
                    lost = True
                    self._log_once(f"{self.notifier.name}: giving up on a notification: {exc.lost}")
                    given_up = None if exc.refused is None or given_up is None else [*given_up, *exc.refused]
                if exc.retry is not None:
                    batch = exc.retry
                unsent = batch if given_up is None else [*given_up, *batch]
                at_exit = self.exiting and exc.unreachable
                if attempt == self.max_retries or self.stopping or at_exit:
                    why = " (nothing listens there: not retried at exit)" if at_exit else ""
                    self._log_once(
                        f"{self.notifier.name}: notification failed after {_attempts(attempt + 1)}: {exc}{why}"
                    )
                    return unsent, True
                delay = backoff_delay(attempt, self.base_delay, exc.retry_after)
                if delay > MAX_DELAY:  # only a Retry-After asks for that; retrying sooner would be refused
                    self.quiet_until = time.monotonic() + delay
                    self._log_once(
                        f"{self.notifier.name}: giving up on a notification: {exc} (Retry-After asks "
                        f"to wait {delay:.0f} s, longer than the {MAX_DELAY:.0f} s a retry may wait; "
                        "the next notifications wait for it)"
                    )
                    return unsent, True
                self.stats.retried += 1
                self._pause(delay, exc.unreachable)
            except Exception as exc:  # a bug in a notifier must not kill its thread
                self._log_once(f"{self.notifier.name}: unexpected error: {type(exc).__name__}: {exc}")
                return whole, True
        return whole, True  # not reached: the last attempt returns

    def _keep_quiet(self) -> bool:
        """Wait out a Retry-After the channel asked for and a retry could not (longer than
        MAX_DELAY): the re-sends queued meanwhile go after it, not into another 429 at each
        resend_delay. True when shutdown ended the wait first."""
        remaining = self.quiet_until - time.monotonic()
        if remaining <= 0:
            return False
        self._pause(remaining)
        return self.quiet_until > time.monotonic()

    def _pause(self, delay: float, unreachable: bool = False) -> None:
        """Wait ``delay`` seconds, or until shutdown (or its start, when nothing listened: the
        retry then ends it at once). ``submit`` and the worker itself notify the same condition;
        a new batch must not end the wait, or the retry comes before the backoff or Retry-After
        it owes the server."""
        deadline = time.monotonic() + delay
        with self.wake:
            while not self.stopping and not (unreachable and self.exiting):
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return
                self.wake.wait(remaining)

    def _log_once(self, message: str) -> None:
        # One line per notifier and distinct failure (e.g. "HTTP 400" vs "HTTP 404"), not per alert:
        # the response body after the status, and how many attempts it took, vary and must not
        # defeat the de-duplication.
        key = re.sub(r"(HTTP \d{3}|SMTP \d{3}).*", r"\1", _ATTEMPTS.sub("after N attempts", message))
        if key not in self.logged:
            self.logged.add(key)
            enabled(_log).warning("otelbundle: %s", message)
            try:  # called from the worker's except clauses: nothing here may end its thread
                shown = shown_on_console(_log, logging.WARNING)
            except Exception:  # the app's logging changing under us: say it on stderr to be sure
                shown = False
            if not shown:
                diagnostics_logger().warning("otelbundle: alert %s", message)


_ATTEMPTS = re.compile(r"after \d+ attempts?")


def _attempts(count: int) -> str:
    return f"{count} attempt{'s' if count != 1 else ''}"


def undelivered(
    stats: Sequence[tuple[Channel, NotifierStats]],
    queued: dict[str, int],
    unrouted: int = 0,
    *,
    sending: dict[str, int] | None = None,
    unchosen: dict[str, int] | None = None,
) -> str:
    """What each channel lost, in alerts (``"webhook: 3 alerts failed, 1 alert dropped (queue
    full)"``), and the alerts no channel took; "" when nothing was lost. Alerts, not batches: a
    batch cut into requests may be partly delivered (chunks.py). ``sending``: the alerts of the
    batch each channel was still sending (its outcome unknown); ``unchosen``: the batches whose
    alerts could not even be chosen for the channel (failed, with no alerts to count)."""
    parts = []
    for channel, counts in stats:
        name = channel.name
        batches = (unchosen or {}).get(name, 0)
        in_flight = (sending or {}).get(name, 0)
        lost = [
            f"{count} {what}"
            for count, what in (
                (counts.alerts_failed, _alerts(counts.alerts_failed, "failed")),
                (batches, "batches failed" if batches > 1 else "batch failed"),
                (counts.alerts_dropped, _alerts(counts.alerts_dropped, "dropped (queue full)")),
                (queued.get(name, 0), _alerts(queued.get(name, 0), "still queued at exit")),
                (in_flight, _alerts(in_flight, "still being sent at exit")),
            )
            if count
        ]
        if lost:
            parts.append(f"{channel.name}: {', '.join(lost)}")
    if unrouted:
        parts.append(f"{unrouted} {_alerts(unrouted, 'matched no channel')}")
    return "; ".join(parts)


def _alerts(count: int, what: str) -> str:
    return f"{'alert' if count == 1 else 'alerts'} {what}"


def unique_channels(notifiers: Sequence[Notifier | Channel]) -> list[Channel]:
    """The channels, each under its own name: ``stats()`` is keyed by name and the metrics carry
    it, so two plain notifiers of one kind (both ``webhook``) showed as one, the failures of
    either hidden behind the other's. A plain notifier whose name is taken becomes ``webhook-2``
    (the next number free); two :class:`Channel` objects of one name are a ValueError."""
    channels: list[Channel] = []
    taken = {n.name for n in notifiers if isinstance(n, Channel)}
    named: set[str] = set()
    for notifier in notifiers:
        channel = as_channel(notifier)
        if isinstance(notifier, Channel):
            if channel.name in named:
                raise ValueError(f"two channels are named {channel.name!r}; channel names must be unique")
        elif channel.name in named or channel.name in taken:
            number = 2
            while f"{channel.name}-{number}" in named | taken:
                number += 1
            channel.name = f"{channel.name}-{number}"
        named.add(channel.name)
        channels.append(channel)
    return channels


class NotificationDispatcher:
    """The channels' workers; ``notifiers`` are :class:`Channel` objects or plain notifiers
    (each then a channel named after its kind that takes every alert). ``clock`` measures
    repeat_interval (seconds; time.monotonic when None): a test's clock, never the wall clock."""

    def __init__(
        self,
        notifiers: Sequence[Notifier | Channel],
        *,
        queue_size: int = 1000,
        max_retries: int = 5,
        base_delay: float = 0.5,
        clock: Callable[[], float] | None = None,
    ) -> None:
        self._workers = [_Worker(c, queue_size, max_retries, base_delay) for c in unique_channels(notifiers)]
        self.clock = time.monotonic if clock is None else clock  # durations only: see the module doc
        self.unrouted = 0
        self._unrouted_names: set[str] = set()
        self._summarised = False

    def submit(self, alerts: Sequence[Alert]) -> None:
        """Never blocks, never raises."""
        if not alerts:
            return
        try:
            now = self.clock()
            routed: set[int] = set()
            for worker in self._workers:
                try:
                    chosen = worker.notifier.select(alerts, now)
                    routed.update(id(alert) for alert in alerts if worker.notifier.matches(alert))
                    if chosen:
                        worker.submit(tuple(chosen))
                except Exception as exc:  # a defect in routing: this channel's share is lost, and said
                    with worker.wake:
                        worker.stats.failed += 1
                        worker.unchosen += 1
                    worker._log_once(
                        f"{worker.notifier.name}: choosing the alerts for this channel failed "
                        f"({type(exc).__name__}: {exc}); they were not sent to it"
                    )
            if self._workers:
                self._count_unrouted([a for a in alerts if id(a) not in routed])
        except Exception:  # the engine's thread must go on evaluating
            _log.debug("otelbundle: routing alerts failed", exc_info=True)

    def _count_unrouted(self, alerts: Sequence[Alert]) -> None:
        self.unrouted += len(alerts)
        for alert in alerts:
            if alert.name not in self._unrouted_names and len(self._unrouted_names) < 1000:
                self._unrouted_names.add(alert.name)
                warn_seen(
                    _log,
                    "otelbundle: alert %s (%s) matches no channel's match: and is not sent; "
                    "further alerts that match no channel are counted",
                    alert.name,
                    ", ".join(f"{k}={v}" for k, v in sorted(alert.labels.items())),
                )

    @property
    def channels(self) -> list[Channel]:
        return [worker.notifier for worker in self._workers]

    def after_fork_in_child(self) -> None:
        for worker in self._workers:
            worker.after_fork_in_child()

    def channel_stats(self) -> list[tuple[Channel, NotifierStats]]:
        return [(worker.notifier, worker.stats) for worker in self._workers]

    def stats(self) -> dict[str, NotifierStats]:
        """Per channel name."""
        return {worker.notifier.name: worker.stats for worker in self._workers}

    def flush(self, timeout: float = 5.0) -> bool:
        """Wait until every queue is empty and idle (tests, shutdown)."""
        end = time.monotonic() + timeout
        for worker in self._workers:
            with worker.wake:
                while (worker.queue or worker.busy) and time.monotonic() < end:
                    worker.wake.wait(max(0.0, min(0.1, end - time.monotonic())))
        return all(not w.queue and not w.busy for w in self._workers)

    def shutdown(self, timeout: float = 5.0) -> None:
        """Returns within ``timeout``: delivers what it can in the first part of it, then ends
        retry waits for one last attempt each and waits the rest for the threads. A batch still
        being sent then is said in the exit summary (its outcome is unknown), not left out."""
        end = time.monotonic() + timeout
        for worker in self._workers:
            with worker.wake:
                worker.exiting = True  # an alert to a channel that refuses the connection ends at once
                worker.wake.notify_all()
        self.flush(timeout * _FLUSH_SHARE)
        for worker in self._workers:
            with worker.wake:
                worker.stopping = True
                worker.wake.notify_all()
        for worker in self._workers:
            worker.thread.join(max(0.0, end - time.monotonic()))
        if not self._summarised:  # once, however often shutdown is called
            self._summarised = True
            lost = self._left_undelivered()
            if lost:
                diagnostics_logger().warning("otelbundle: alert notifications not delivered: %s.", lost)

    def _left_undelivered(self) -> str:
        """The exit summary, each channel read under its lock: its counts and its queue and
        in-flight batch as of one moment, so a batch finishing meanwhile is said once."""
        stats: list[tuple[Channel, NotifierStats]] = []
        queued: dict[str, int] = {}
        sending: dict[str, int] = {}
        unchosen: dict[str, int] = {}
        for worker in self._workers:
            name = worker.notifier.name
            with worker.wake:
                stats.append((worker.notifier, replace(worker.stats)))
                queued[name] = sum(map(len, worker.queue))
                sending[name] = len(worker.in_flight)
                unchosen[name] = worker.unchosen
        return undelivered(stats, queued, self.unrouted, sending=sending, unchosen=unchosen)
