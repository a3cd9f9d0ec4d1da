"""A dispatch of many alerts goes in POSTs of at most 256 alerts (Prometheus's figure) and 512 KiB:
a proxy's body limit (413) no longer stops every alert, a retry resumes at the chunk that failed,
and the batch is still counted once."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import datetime, timezone

import pytest

from otelbundle.alerting.alert import Alert, AlertStatus
from otelbundle.alerting.notify import AlertmanagerNotifier, NotificationDispatcher, WebhookNotifier
from otelbundle.alerting.notify.routing import Channel

from .conftest import Scripted

T = datetime(2026, 1, 1, tzinfo=timezone.utc)


def alerts(count: int, status: AlertStatus = "firing", note: str = "") -> list[Alert]:
    return [
        Alert({"alertname": "Many", "key": f"k{n:04}"}, {"summary": note} if note else {}, status, T, T)
        for n in range(count)
    ]


def keys_am(server: Scripted) -> list[list[str]]:
    """The ``key`` labels of each POST to Alertmanager, in order."""
    return [[a["labels"]["key"] for a in seen.body] for seen in server.seen]


def keys_webhook(server: Scripted) -> list[list[str]]:
    return [[a["labels"]["key"] for a in seen.body["alerts"]] for seen in server.seen]


def flat(parts: Sequence[Sequence[str]]) -> list[str]:
    return [key for part in parts for key in part]


ALL = [f"k{n:04}" for n in range(600)]


class Recording(Channel):
    """A channel that notes what the dispatcher hands back as undelivered."""

    def __init__(self, notifier: AlertmanagerNotifier | WebhookNotifier, kind: str) -> None:
        super().__init__(kind, kind, notifier)
        self.handed_back: list[str] = []

    def undelivered(self, alerts: Sequence[Alert]) -> None:
        self.handed_back += [a.labels["key"] for a in alerts]
        super().undelivered(alerts)


def test_600_alerts_go_to_alertmanager_in_3_posts(scripted: Scripted) -> None:
    dispatcher = NotificationDispatcher([AlertmanagerNotifier(scripted.url)])
    dispatcher.submit(alerts(600))
    assert dispatcher.flush(30)
    parts = keys_am(scripted)
    assert [len(p) for p in parts] == [256, 256, 88]
    assert flat(parts) == ALL  # each alert once, in order
    assert all(seen.path == "/api/v2/alerts" for seen in scripted.seen)
    stats = dispatcher.stats()["alertmanager"]
    assert (stats.sent, stats.failed, stats.retried) == (1, 0, 0)  # one batch, counted once
    dispatcher.shutdown()


def test_600_alerts_go_to_a_webhook_as_3_whole_messages(scripted: Scripted) -> None:
    dispatcher = NotificationDispatcher([WebhookNotifier(scripted.url)])
    dispatcher.submit(alerts(300) + alerts(600, "resolved")[300:])
    assert dispatcher.flush(30)
    parts = keys_webhook(scripted)
    assert [len(p) for p in parts] == [256, 256, 88]
    assert flat(parts) == ALL
    bodies = [seen.body for seen in scripted.seen]
    assert all(b["version"] == "4" and b["truncatedAlerts"] == 0 for b in bodies)
    # each message is complete on its own: its status and common labels are its own alerts'
    assert [b["status"] for b in bodies] == ["firing", "firing", "resolved"]
    assert all(b["commonLabels"] == {"alertname": "Many"} for b in bodies)
    dispatcher.shutdown()


@pytest.mark.parametrize("kind", ["alertmanager", "webhook"])
def test_a_body_limit_of_1_mib_still_lets_every_alert_through(scripted: Scripted, kind: str) -> None:
    """nginx's default client_max_body_size: 600 alerts of ~3 KB (evidence-sized) are ~1.8 MB."""
    scripted.max_body = 1024 * 1024
    notifier = AlertmanagerNotifier(scripted.url) if kind == "alertmanager" else WebhookNotifier(scripted.url)
    dispatcher = NotificationDispatcher([notifier])
    dispatcher.submit(alerts(600, note="x" * 3000))
    assert dispatcher.flush(30)
    parts = keys_am(scripted) if kind == "alertmanager" else keys_webhook(scripted)
    assert scripted.too_large == []
    assert flat(parts) == ALL
    assert all(len(seen.raw) <= 512 * 1024 + 4096 for seen in scripted.seen)  # chunks.MAX_POST_BYTES
    assert dispatcher.stats()[kind].sent == 1
    dispatcher.shutdown()


def test_a_refused_chunk_costs_only_its_own_alerts(
    scripted: Scripted, caplog: pytest.LogCaptureFixture
) -> None:
    """A 400 for the second chunk: the third is still sent, the batch counts failed once, the log
    says how many were refused, and only the refused alerts are handed back to the channel (so its
    next re-send goes out). A 413 is split instead: test_body_limit_shrinks.py."""
    scripted.answers = [(200, {}), (400, {}), (200, {})]
    channel = Recording(AlertmanagerNotifier(scripted.url), "alertmanager")
    dispatcher = NotificationDispatcher([channel])
    with caplog.at_level(logging.WARNING, logger="otelbundle.alerting"):
        dispatcher.submit(alerts(600))
        assert dispatcher.flush(30)
    parts = keys_am(scripted)
    assert flat(parts) == ALL and len(parts) == 3  # each chunk tried once, none re-sent
    stats = dispatcher.stats()["alertmanager"]
    assert (stats.sent, stats.failed, stats.retried) == (0, 1, 0)
    assert channel.handed_back == ALL[256:512]
    # On its logger; the same line may also go to otelbundle.diagnostics (stderr) when the
    # process's logging shows otelbundle.alerting on no terminal, as after other tests.
    (line,) = [
        r.getMessage()
        for r in caplog.records
        if r.name == "otelbundle.alerting" and "giving up" in r.getMessage()
    ]
    assert "HTTP 400" in line
    assert "(256 of 600 alerts refused, the other 344 accepted)" in line
    dispatcher.shutdown()


def test_a_retry_resumes_at_the_chunk_that_failed(scripted: Scripted) -> None:
    """503 on the second chunk: the retry sends the second and third, never the first again."""
    scripted.answers = [(200, {}), (503, {"Retry-After": "0"}), (200, {}), (200, {})]
    channel = Recording(AlertmanagerNotifier(scripted.url), "alertmanager")
    dispatcher = NotificationDispatcher([channel], base_delay=0.01)
    dispatcher.submit(alerts(600))
    assert dispatcher.flush(30)
    parts = keys_am(scripted)
    assert [p[0] for p in parts] == ["k0000", "k0256", "k0256", "k0512"]
    delivered = [parts[0], parts[2], parts[3]]
    assert flat(delivered) == ALL  # every alert delivered once
    stats = dispatcher.stats()["alertmanager"]
    assert (stats.sent, stats.failed, stats.retried) == (1, 0, 1)
    assert channel.handed_back == []
    dispatcher.shutdown()


def test_retries_run_out_only_the_unaccepted_chunks_are_handed_back(scripted: Scripted) -> None:
    scripted.answers = [(200, {})] + [(503, {"Retry-After": "0"})] * 2
    channel = Recording(AlertmanagerNotifier(scripted.url), "alertmanager")
    dispatcher = NotificationDispatcher([channel], max_retries=1, base_delay=0.01)
    dispatcher.submit(alerts(600))
    assert dispatcher.flush(30)
    assert [p[0] for p in keys_am(scripted)] == ["k0000", "k0256", "k0256"]
    stats = dispatcher.stats()["alertmanager"]
    assert (stats.sent, stats.failed, stats.retried) == (0, 1, 1)
    assert channel.handed_back == ALL[256:]
    dispatcher.shutdown()


def test_refused_then_retried_chunks_hand_back_the_refused_and_the_unsent(scripted: Scripted) -> None:
    """Chunk 1 refused (400), chunk 2 busy (503) until retries run out: chunk 0 went out and is not
    handed back; chunks 1 and 2 are."""
    scripted.answers = [(200, {}), (400, {}), (503, {"Retry-After": "0"}), (503, {"Retry-After": "0"})]
    channel = Recording(AlertmanagerNotifier(scripted.url), "alertmanager")
    dispatcher = NotificationDispatcher([channel], max_retries=1, base_delay=0.01)
    dispatcher.submit(alerts(600))
    assert dispatcher.flush(30)
    assert [p[0] for p in keys_am(scripted)] == ["k0000", "k0256", "k0512", "k0512"]
    assert sorted(channel.handed_back) == ALL[256:]
    assert dispatcher.stats()["alertmanager"].failed == 1
    dispatcher.shutdown()


def test_a_webhook_resend_repeats_only_the_refused_chunk(scripted: Scripted) -> None:
    """Webhook channels hold a delivered alert back for repeat_interval (4h): after a chunk is
    refused, the engine's next re-send of all 600 delivers that chunk's alerts, and only them."""
    scripted.answers = [(200, {}), (400, {}), (200, {})]
    dispatcher = NotificationDispatcher([WebhookNotifier(scripted.url)])
    batch = alerts(600)
    dispatcher.submit(batch)
    assert dispatcher.flush(30)
    before = len(scripted.seen)
    dispatcher.submit(batch)
    assert dispatcher.flush(30)
    assert flat(keys_webhook(scripted)[before:]) == ALL[256:512]
    dispatcher.shutdown()


def test_a_refusal_before_a_retry_that_succeeds_hands_back_only_the_refused(scripted: Scripted) -> None:
    scripted.answers = [(200, {}), (400, {}), (503, {"Retry-After": "0"}), (200, {})]
    channel = Recording(AlertmanagerNotifier(scripted.url), "alertmanager")
    dispatcher = NotificationDispatcher([channel], base_delay=0.01)
    dispatcher.submit(alerts(600))
    assert dispatcher.flush(30)
    assert [p[0] for p in keys_am(scripted)] == ["k0000", "k0256", "k0512", "k0512"]
    stats = dispatcher.stats()["alertmanager"]
    assert (stats.sent, stats.failed, stats.retried) == (0, 1, 1)
    assert channel.handed_back == ALL[256:512]
    dispatcher.shutdown()


def test_a_refusal_before_a_retry_says_the_chunks_accepted_so_far(
    scripted: Scripted, caplog: pytest.LogCaptureFixture
) -> None:
    """Before: `(256 of 1000 alerts refused)`, the 256 accepted before the refusal unsaid."""
    scripted.answers = [(200, {}), (400, {}), (503, {"Retry-After": "0"})]
    dispatcher = NotificationDispatcher([AlertmanagerNotifier(scripted.url)], base_delay=0.01)
    with caplog.at_level(logging.WARNING, logger="otelbundle.alerting"):
        dispatcher.submit(alerts(1000))
        assert dispatcher.flush(30)
    dispatcher.shutdown()
    (line,) = [r.getMessage() for r in caplog.records if r.name == "otelbundle.alerting"]
    assert line.endswith("HTTP 400 (256 of 1000 alerts refused, 256 accepted so far)"), line
