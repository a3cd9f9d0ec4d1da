"""Redirects are refused: a 3xx is a failed notification saying where it pointed (scrubbed),
and nothing, least of all the channel's Authorization header, reaches the redirect's target."""

from __future__ import annotations

import logging
from datetime import datetime, timezone

import pytest

from otelbundle.alerting.alert import Alert
from otelbundle.alerting.notify import AlertmanagerNotifier, NotificationDispatcher, WebhookNotifier
from otelbundle.alerting.notify.base import PermanentError, post_json

from .conftest import Scripted

T = datetime(2026, 1, 1, tzinfo=timezone.utc)
ALERT = Alert({"alertname": "X"}, {}, "firing", T, T)


@pytest.mark.parametrize("code", [301, 302, 303, 307, 308])
def test_a_redirected_webhook_fails_and_sends_nothing_to_the_target(
    code: int, scripted: Scripted, other: Scripted, caplog: pytest.LogCaptureFixture
) -> None:
    port = other.url.rsplit(":", 1)[1]
    scripted.answers = [(code, {"Location": f"http://localhost:{port}/moved?token=abc#top"})]
    webhook = WebhookNotifier(scripted.url + "/hook", {"Authorization": "Bearer SECRET"})
    dispatcher = NotificationDispatcher([webhook], base_delay=0.001)
    with caplog.at_level(logging.WARNING, logger="otelbundle.alerting"):
        dispatcher.submit([ALERT])
        assert dispatcher.flush(5)
    stats = dispatcher.stats()["webhook"]
    assert (stats.sent, stats.failed, stats.retried) == (0, 1, 0)
    assert [(s.method, s.path) for s in scripted.seen] == [("POST", "/hook")]
    assert other.seen == []  # no GET, no Bearer SECRET at the target
    (line,) = [r.getMessage() for r in caplog.records if r.name == "otelbundle.alerting"]
    assert line.startswith(
        f"otelbundle: webhook: giving up on a notification: HTTP {code}: "
        f"redirected to http://localhost:{port}/moved?REDACTED; "
    ), line
    assert "abc" not in line and "top" not in line
    dispatcher.shutdown()


def test_a_redirected_alertmanager_fails(scripted: Scripted, other: Scripted) -> None:
    scripted.answers = [(301, {"Location": other.url + "/api/v2/alerts"})]
    dispatcher = NotificationDispatcher([AlertmanagerNotifier(scripted.url)], base_delay=0.001)
    dispatcher.submit([ALERT])
    assert dispatcher.flush(5)
    assert (dispatcher.stats()["alertmanager"].sent, dispatcher.stats()["alertmanager"].failed) == (0, 1)
    assert [(s.method, s.path) for s in scripted.seen] == [("POST", "/api/v2/alerts")]
    assert other.seen == []
    dispatcher.shutdown()


def test_redirect_messages(scripted: Scripted) -> None:
    scripted.answers = [(302, {"Location": "/am/api/v2/alerts"}), (303, {"Location": "http://u:pw@h/x?k=1"})]
    scripted.answers.append((302, {}))
    with pytest.raises(PermanentError, match=rf"^HTTP 302: redirected to {scripted.url}/am/api/v2/alerts; "):
        post_json(scripted.url + "/api/v2/alerts", [])
    with pytest.raises(PermanentError, match=r"^HTTP 303: redirected to http://REDACTED@h/x\?REDACTED; "):
        post_json(scripted.url + "/api/v2/alerts", [])
    with pytest.raises(PermanentError, match=r"^HTTP 302: a redirect without a Location"):
        post_json(scripted.url + "/api/v2/alerts", [])


def test_redacted_url() -> None:
    from otelbundle.alerting.notify.base import redacted_url

    assert redacted_url("https://u:p@hooks.example.com:8443/a/b?sig=1&x=2#f") == (
        "https://REDACTED@hooks.example.com:8443/a/b?REDACTED"
    )
    assert redacted_url("http://[::1]:9093/api") == "http://[::1]:9093/api"
    assert redacted_url("http://[::1") == "(an unreadable URL)"
