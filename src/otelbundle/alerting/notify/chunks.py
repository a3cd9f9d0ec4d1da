"""One dispatch as several POSTs, each small enough for the receiver and the proxies before it.

The engine re-sends every resolved alert for 15 minutes (as Prometheus does), so with keys
that turn over, one Alertmanager dispatch held ~31 000 alerts (4.9 MB). A proxy's body limit
(nginx's ``client_max_body_size`` is 1 MiB by default, many ingresses the same) answers 413 to
such a body, and as the dispatch only grows, no alert ever got through again.

Each POST carries at most :data:`MAX_ALERTS_PER_POST` alerts and, past its first alert, at
most the notifier's :class:`PostLimit` of them (:data:`MAX_POST_BYTES` until a 413 lowers it).
A 413 for a POST of several alerts sends it again as two halves (and so on down to one alert):
a proxy whose limit is under 512 KiB (ingresses with 100-256 KiB) no longer costs whole chunks
at every dispatch. A single alert still refused with 413 is given up. Other refusals (4xx) cost
only their own alerts: the next chunks are still sent. A chunk that fails in a way a retry may
cure (5xx, 429, no connection) ends the attempt; the retry starts at that chunk, so the chunks
already accepted are not sent again (RetryableError ``retry``). A batch that fits in one POST
and is accepted or refused other than by a 413 is sent, and fails, exactly as before.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Sequence
from itertools import accumulate

from otelbundle.alerting.alert import Alert
from otelbundle.alerting.notify.base import PermanentError, RetryableError

MAX_ALERTS_PER_POST = 256
"""Prometheus's own figure: its notifier sends at most ``DefaultMaxBatchSize = 256`` alerts per
request to Alertmanager (prometheus/notifier/notifier.go)."""
MAX_POST_BYTES = 512 * 1024
"""Half of nginx's default ``client_max_body_size`` (1 MiB), the smallest limit commonly in front
of Alertmanager or a webhook: 256 alerts with evidence (up to ~4 KB each) come close to 1 MiB,
and a webhook body adds its common labels and annotations once more. A single alert larger than
this still goes, alone."""
MIN_POST_BYTES = 16 * 1024
"""The lowest a 413 lowers :class:`PostLimit`: a receiver that answered 413 to everything for a
while (misconfigured, then fixed) must not leave the process sending one alert per request."""
MAX_TOO_LARGE = 64
"""413 answers one dispatch may get before the rest of it is given up: requests per dispatch are
at most the accepted ones plus this many. A proxy with a limit of 100 KiB costs 3 of them at the
first dispatch (512 -> 256 -> 128 -> 64 KiB) and none after; only a receiver that refuses every
body (or many single alerts, each too large) reaches it."""


class PostLimit:
    """The bytes of alerts one POST of a notifier may carry, for the rest of the process.

    A 413 for a body of N bytes lowers it to N // 2 (the size of the halves that are sent next),
    never below :data:`MIN_POST_BYTES`, and it is never raised again: the next dispatch starts
    at a size that was accepted instead of 413 again each time, and probing upwards would cost a
    413 now and then for nothing (a proxy's limit does not grow while we run). At most half the
    limit is lost, which costs only more, smaller requests. Only the notifier's worker thread
    sends, so no lock; a fork keeps it (the same proxy is in front of the child)."""

    def __init__(self, max_bytes: int = MAX_POST_BYTES) -> None:
        self.max_bytes = max_bytes

    def refused(self, size: int) -> None:
        self.max_bytes = max(MIN_POST_BYTES, min(self.max_bytes, size // 2))


class TooLarge(PermanentError):
    """A 413 for a POST of ``size`` bytes (:func:`too_large`): the caller may split it."""

    def __init__(self, message: str, size: int) -> None:
        super().__init__(message, status=413)
        self.size = size


def cut(
    sizes: Sequence[int], max_alerts: int = MAX_ALERTS_PER_POST, max_bytes: int = MAX_POST_BYTES
) -> list[range]:
    """Consecutive index ranges over ``sizes`` (each alert's encoded bytes), in order: at most
    ``max_alerts`` each, and at most ``max_bytes`` of alerts (with a separator byte each)
    unless one alert alone is larger."""
    parts: list[range] = []
    start, total = 0, 0
    for index, size in enumerate(sizes):
        if index > start and (index - start >= max_alerts or total + size + 1 > max_bytes):
            parts.append(range(start, index))
            start, total = index, 0
        total += size + 1
    if start < len(sizes):
        parts.append(range(start, len(sizes)))
    return parts


def send_in_parts(
    alerts: Sequence[Alert], sizes: Sequence[int], post: Callable[[range], None], limit: PostLimit
) -> None:
    """Calls ``post`` for each part of ``alerts`` (``sizes``: each one's encoded bytes), cut at
    ``limit``; splits a part refused with :class:`TooLarge`; raises as the module doc says."""
    ends = [0, *accumulate(size + 1 for size in sizes)]  # a part's bytes, as cut() counts them
    work = deque(cut(sizes, max_bytes=limit.max_bytes))
    refused: list[Alert] = []
    first: PermanentError | None = None
    requests = too_large_answers = 0
    while work:
        part = work.popleft()
        if len(part) > 1 and ends[part.stop] - ends[part.start] > limit.max_bytes:  # lowered since
            work.extendleft(
                reversed(_shifted(cut(sizes[part.start : part.stop], max_bytes=limit.max_bytes), part.start))
            )
            continue
        requests += 1
        try:
            post(part)
        except TooLarge as exc:
            too_large_answers += 1
            limit.refused(exc.size)
            if too_large_answers >= MAX_TOO_LARGE:
                refused.extend(alerts[part.start :])
                first = PermanentError(  # said over an earlier refusal: it ended the dispatch
                    f"{exc} ({MAX_TOO_LARGE} answers 413 in one dispatch: the rest of it was not sent)"
                )
                break
            if len(part) > 1:
                middle = part.start + len(part) // 2
                work.extendleft((range(middle, part.stop), range(part.start, middle)))
                continue
            if requests == 1 and not work:  # the whole dispatch was this one alert: as before
                raise
            refused.extend(alerts[part.start : part.stop])
            first = first or exc
        except PermanentError as exc:
            if requests == 1 and not work:  # one POST: its error as it is, as before chunking
                raise
            refused.extend(alerts[part.start : part.stop])
            first = first or exc
        except RetryableError as exc:
            if requests == 1 and not work:
                raise
            pending = alerts[part.start :]
            raise RetryableError(
                f"{exc} ({len(pending)} of {len(alerts)} alerts not yet accepted, "
                f"{requests + len(work)} requests of at most {MAX_ALERTS_PER_POST})",
                exc.retry_after,
                retry=pending,
                lost=_refused(first, len(refused), len(alerts), part.start - len(refused), so_far=True)
                if first
                else None,
                refused=refused if first else None,
            ) from None
    if first is not None:
        accepted = len(alerts) - len(refused)
        raise PermanentError(
            _refused(first, len(refused), len(alerts), accepted),
            refused=refused if accepted else None,
        )


def too_large(exc: PermanentError, size: int, count: int) -> PermanentError:
    """``exc`` with what a 413 means said after its status (which leads, for the log's once-per-status)."""
    if exc.status != 413:
        return exc
    what = f"one alert of {size} bytes" if count == 1 else f"a body of {size} bytes, {count} alerts"
    return TooLarge(
        f"{exc} ({what}, refused as too large by the receiver or a proxy before it: raise its limit, "
        "e.g. nginx's client_max_body_size)",
        size,
    )


def _shifted(parts: Sequence[range], offset: int) -> list[range]:
    return [range(part.start + offset, part.stop + offset) for part in parts]


def _refused(
    first: PermanentError, count: int, total: int, accepted: int = 0, *, so_far: bool = False
) -> str:
    """The first refusal (its status leads, for the log's once-per-status), and how many;
    ``so_far``: a retry is still to send the rest, so the accepted ones are not "the other" ones."""
    if not accepted:
        others = ""
    elif so_far:
        others = f", {accepted} accepted so far"
    else:
        others = f", the other {accepted} accepted"
    return f"{first} ({count} of {total} alerts refused{others})"
