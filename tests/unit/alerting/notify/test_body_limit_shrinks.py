"""A proxy whose body limit is under 512 KiB (ingresses with 100-256 KiB): a chunk answered 413
is sent again in halves, the size that worked is kept for the next dispatch, a single alert too
large for the proxy is given up once, and a receiver that refuses everything costs a bounded
number of requests."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import datetime, timezone

import pytest

from otelbundle.alerting.alert import Alert
from otelbundle.alerting.notify import AlertmanagerNotifier, NotificationDispatcher, WebhookNotifier
from otelbundle.alerting.notify.chunks import MAX_POST_BYTES, MAX_TOO_LARGE, MIN_POST_BYTES, PostLimit
from otelbundle.alerting.notify.routing import Channel

from .conftest import Scripted

T = datetime(2026, 1, 1, tzinfo=timezone.utc)
LIMIT = 100 * 1024  # the proxy's client_max_body_size
HALVINGS = 3  # 512 KiB -> 256 -> 128 -> 64 KiB, the first size under LIMIT


def alerts(count: int, name: str = "Many", note: str = "x" * 3000) -> list[Alert]:
    """~3.2 KB each (evidence-sized): 1000 of them are ~3.2 MB, 32 times the limit."""
    return [
        Alert({"alertname": name, "key": f"k{n:04}"}, {"summary": note}, "firing", T, T) for n in range(count)
    ]


def keys(server: Scripted, kind: str) -> list[str]:
    """The ``key`` label of every alert the server accepted, in order of arrival."""
    bodies = [seen.body if kind == "alertmanager" else seen.body["alerts"] for seen in server.seen]
    return [a["labels"]["key"] for body in bodies for a in body]


def notifier(kind: str, url: str) -> AlertmanagerNotifier | WebhookNotifier:
    return AlertmanagerNotifier(url) if kind == "alertmanager" else WebhookNotifier(url)


class Recording(Channel):
    """A channel that notes what the dispatcher hands back as undelivered."""

    def __init__(self, notifier: AlertmanagerNotifier | WebhookNotifier, kind: str) -> None:
        super().__init__(kind, kind, notifier)
        self.handed_back: list[str] = []

    def undelivered(self, alerts: Sequence[Alert]) -> None:
        self.handed_back += [a.labels["key"] for a in alerts]
        super().undelivered(alerts)


def giving_up(caplog: pytest.LogCaptureFixture) -> list[str]:
    # On its logger; the same line may also reach otelbundle.diagnostics (test_batch_size.py).
    return [
        r.getMessage()
        for r in caplog.records
        if r.name == "otelbundle.alerting" and "giving up" in r.getMessage()
    ]


@pytest.mark.parametrize("kind", ["alertmanager", "webhook"])
def test_a_100_kib_proxy_still_gets_every_alert_of_a_1000_alert_dispatch(
    scripted: Scripted, kind: str
) -> None:
    scripted.max_body = LIMIT
    dispatcher = NotificationDispatcher([notifier(kind, scripted.url)])
    dispatcher.submit(alerts(1000))
    assert dispatcher.flush(60)
    assert keys(scripted, kind) == [f"k{n:04}" for n in range(1000)]  # each once, in order
    assert all(len(seen.raw) <= LIMIT for seen in scripted.seen)
    # one 413 per halving until a half fits; the chunks after it are cut at that size at once
    assert 1 <= len(scripted.too_large) <= HALVINGS
    stats = dispatcher.stats()[kind]
    assert (stats.sent, stats.failed, stats.alerts_sent, stats.alerts_failed) == (1, 0, 1000, 0)
    dispatcher.shutdown()


@pytest.mark.parametrize("kind", ["alertmanager", "webhook"])
def test_the_next_dispatch_starts_at_the_size_that_worked(scripted: Scripted, kind: str) -> None:
    scripted.max_body = LIMIT
    dispatcher = NotificationDispatcher([notifier(kind, scripted.url)])
    dispatcher.submit(alerts(1000))
    assert dispatcher.flush(60)
    refused, accepted = len(scripted.too_large), len(scripted.seen)
    assert refused >= 1
    dispatcher.submit(alerts(1000, name="Next"))  # other alerts: no repeat_interval holds them back
    assert dispatcher.flush(60)
    assert len(scripted.too_large) == refused  # no 413 first, nor later
    assert keys(scripted, kind)[1000:] == [f"k{n:04}" for n in range(1000)]
    assert (
        len(scripted.seen) - accepted <= 3 * 1000 * 3200 // LIMIT
    )  # chunks near the limit, not one per alert
    dispatcher.shutdown()


def test_a_single_alert_over_the_limit_is_given_up_once_and_said(
    scripted: Scripted, caplog: pytest.LogCaptureFixture
) -> None:
    scripted.max_body = LIMIT
    batch = alerts(20, note="ok")
    batch[7] = Alert({"alertname": "Many", "key": "huge"}, {"summary": "y" * 200_000}, "firing", T, T)
    channel = Recording(AlertmanagerNotifier(scripted.url), "alertmanager")
    dispatcher = NotificationDispatcher([channel])
    with caplog.at_level(logging.WARNING, logger="otelbundle.alerting"):
        dispatcher.submit(batch)
        assert dispatcher.flush(30)
    assert keys(scripted, "alertmanager") == [a.labels["key"] for a in batch if a.labels["key"] != "huge"]
    alone = scripted.too_large[-1]  # the huge alert's own body, refused once
    assert alone < 200_000 + 1000 and scripted.too_large.count(alone) == 1
    assert channel.handed_back == ["huge"]
    stats = dispatcher.stats()["alertmanager"]
    assert (stats.sent, stats.failed, stats.retried) == (0, 1, 0)
    assert (stats.alerts_sent, stats.alerts_failed) == (19, 1)
    (line,) = giving_up(caplog)
    assert line.startswith("otelbundle: alertmanager: giving up on a notification: HTTP 413")
    assert f"one alert of {alone} bytes" in line and "client_max_body_size" in line
    assert "(1 of 20 alerts refused, the other 19 accepted)" in line
    dispatcher.shutdown()


def test_a_receiver_refusing_every_body_costs_a_bounded_number_of_requests(
    scripted: Scripted, caplog: pytest.LogCaptureFixture
) -> None:
    scripted.max_body = 0  # every body is answered 413
    channel = Recording(AlertmanagerNotifier(scripted.url), "alertmanager")
    dispatcher = NotificationDispatcher([channel])
    with caplog.at_level(logging.WARNING, logger="otelbundle.alerting"):
        for name in ("First", "Second"):
            before = len(scripted.too_large)
            dispatcher.submit(alerts(1000, name=name))
            assert dispatcher.flush(60)
            assert len(scripted.too_large) - before == MAX_TOO_LARGE
    assert scripted.seen == []
    assert len(channel.handed_back) == 2000  # every alert given up, and handed back
    stats = dispatcher.stats()["alertmanager"]
    assert (stats.failed, stats.alerts_failed, stats.retried) == (2, 2000, 0)
    (line,) = giving_up(caplog)  # once per channel and status
    assert f"{MAX_TOO_LARGE} answers 413 in one dispatch" in line and "(1000 of 1000 alerts refused)" in line
    dispatcher.shutdown()


def test_a_retry_after_a_split_resumes_where_it_stopped(scripted: Scripted) -> None:
    """A 503 on a half: the retry sends what was not yet accepted, at the size that worked."""
    scripted.max_body = LIMIT
    scripted.answers = [(200, {}), (503, {"Retry-After": "0"})]
    dispatcher = NotificationDispatcher([AlertmanagerNotifier(scripted.url)], base_delay=0.01)
    dispatcher.submit(alerts(1000))
    assert dispatcher.flush(60)
    arrived = keys(scripted, "alertmanager")
    first_of_503 = len(scripted.seen[0].body)  # the second accepted-size request got the 503
    assert arrived[:first_of_503] == [f"k{n:04}" for n in range(first_of_503)]
    retried = arrived[first_of_503:]
    assert retried[: len(scripted.seen[1].body)] == [a["labels"]["key"] for a in scripted.seen[1].body]
    delivered = arrived[:first_of_503] + retried[len(scripted.seen[1].body) :]
    assert delivered == [f"k{n:04}" for n in range(1000)]  # each delivered once
    assert 1 <= len(scripted.too_large) <= HALVINGS
    stats = dispatcher.stats()["alertmanager"]
    assert (stats.sent, stats.retried, stats.alerts_sent) == (1, 1, 1000)
    dispatcher.shutdown()


def test_the_post_limit_halves_to_a_floor_and_never_grows() -> None:
    limit = PostLimit()
    assert limit.max_bytes == MAX_POST_BYTES
    limit.refused(MAX_POST_BYTES)
    assert limit.max_bytes == MAX_POST_BYTES // 2
    limit.refused(MAX_POST_BYTES * 4)  # a big alert alone, refused: says nothing about smaller bodies
    assert limit.max_bytes == MAX_POST_BYTES // 2
    limit.refused(10)
    assert limit.max_bytes == MIN_POST_BYTES
