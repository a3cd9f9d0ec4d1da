"""One dispatch as several POSTs, each small enough for the receiver and the proxies before it.

The engine re-sends every resolved alert for 15 minutes (as Prometheus does), so with keys
that turn over, one Alertmanager dispatch held ~31 000 alerts (4.9 MB). A proxy's body limit
(nginx's ``client_max_body_size`` is 1 MiB by default, many ingresses the same) answers 413 to
such a body, and as the dispatch only grows, no alert ever got through again.

Each POST carries at most :data:`MAX_ALERTS_PER_POST` alerts and, past its first alert,
at most :data:`MAX_POST_BYTES` of them. A chunk that is refused (4xx, a 413 included) costs
only its own alerts: the next chunks are still sent. A chunk that fails in a way a retry may
cure (5xx, 429, no connection) ends the attempt; the retry starts at that chunk, so the chunks
already accepted are not sent again (RetryableError ``retry``). A batch that fits in one POST is
sent, and fails, exactly as before.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

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


def send_in_parts(alerts: Sequence[Alert], parts: Sequence[range], post: Callable[[range], None]) -> None:
    """Calls ``post`` for each part of ``alerts``; raises as the module doc says."""
    if len(parts) <= 1:  # one POST: its error as it is, as before chunking
        if parts:
            post(parts[0])
        return
    refused: list[Alert] = []
    first: PermanentError | None = None
    for part in parts:
        try:
            post(part)
        except PermanentError as exc:
            refused.extend(alerts[part.start : part.stop])
            first = first or exc
        except RetryableError as exc:
            pending = alerts[part.start :]
            raise RetryableError(
                f"{exc} ({len(pending)} of {len(alerts)} alerts not yet accepted, "
                f"{len(parts)} requests of at most {MAX_ALERTS_PER_POST})",
                exc.retry_after,
                retry=pending,
                lost=_refused(first, len(refused), len(alerts)) if first else None,
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
    if not str(exc).startswith("HTTP 413"):
        return exc
    return PermanentError(
        f"{exc} (a body of {size} bytes, {count} alerts, refused as too large by the receiver or a "
        "proxy before it: raise its limit, e.g. nginx's client_max_body_size)"
    )


def _refused(first: PermanentError, count: int, total: int, accepted: int = 0) -> str:
    """The first refusal (its status leads, for the log's once-per-status), and how many."""
    others = f", the other {accepted} accepted" if accepted else ""
    return f"{first} ({count} of {total} alerts refused{others})"
