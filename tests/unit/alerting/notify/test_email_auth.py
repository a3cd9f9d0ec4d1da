"""SMTP AUTH that cannot work is given up at once, not retried: a server offering no AUTH, or
only mechanisms smtplib lacks, and rejected credentials (aiosmtpd on loopback, plain sessions)."""

from __future__ import annotations

import logging
import socket
from collections.abc import Iterator
from datetime import datetime, timezone
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.handlers import Sink
from aiosmtpd.smtp import SMTP, AuthResult

from otelbundle.alerting.alert import Alert
from otelbundle.alerting.notify import NotificationDispatcher, PermanentError
from otelbundle.alerting.notify.email import EmailNotifier

T = datetime(2026, 1, 1, tzinfo=timezone.utc)
ALERT = Alert({"alertname": "X"}, {}, "firing", T, T)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Counting(Sink):
    """Counts sessions (one per attempt); offers XOAUTH2 when asked, a mechanism smtplib lacks."""

    def __init__(self) -> None:
        self.sessions = 0

    async def handle_EHLO(
        self, server: SMTP, session: Any, envelope: Any, hostname: str, responses: list[str]
    ) -> list[str]:
        self.sessions += 1
        session.host_name = hostname
        return responses

    async def auth_XOAUTH2(self, server: SMTP, args: list[str]) -> AuthResult:
        return AuthResult(success=False)


def start(handler: Counting, **kwargs: Any) -> Controller:
    controller = Controller(handler, hostname="127.0.0.1", port=free_port(), **kwargs)
    controller.start()
    return controller


@pytest.fixture
def handler() -> Iterator[Counting]:
    yield Counting()


def deliver(controller: Controller, caplog: pytest.LogCaptureFixture) -> tuple[int, int, int, list[str]]:
    notifier = EmailNotifier(
        f"127.0.0.1:{controller.port}", "a@example.com", ["b@example.com"], username="u", password="p"
    )
    dispatcher = NotificationDispatcher([notifier], base_delay=0.001)
    with caplog.at_level(logging.WARNING, logger="otelbundle.alerting"):
        dispatcher.submit([ALERT])
        assert dispatcher.flush(5)
    dispatcher.shutdown()
    stats = dispatcher.stats()["email"]
    return (
        stats.sent,
        stats.failed,
        stats.retried,
        [r.getMessage() for r in caplog.records if r.name == "otelbundle.alerting"],
    )


def test_a_server_without_auth_is_given_up_at_once(
    handler: Counting, caplog: pytest.LogCaptureFixture
) -> None:
    controller = start(handler)  # plain, no authenticator: AUTH is not offered
    try:
        sent, failed, retried, lines = deliver(controller, caplog)
    finally:
        controller.stop()
    assert (sent, failed, retried, handler.sessions) == (0, 1, 0, 1)
    assert lines == [
        f"otelbundle: email: giving up on a notification: SMTP AUTH impossible on 127.0.0.1:{controller.port} "
        "(username is set): SMTP AUTH extension not supported by server.; many servers offer AUTH only "
        "after STARTTLS, and this session was plain"
    ]


def test_no_mechanism_smtplib_speaks_is_given_up_at_once(
    handler: Counting, caplog: pytest.LogCaptureFixture
) -> None:
    controller = start(
        handler,
        authenticator=lambda *args: AuthResult(success=True),
        auth_require_tls=False,
        auth_exclude_mechanism=["LOGIN", "PLAIN"],
    )
    try:
        sent, failed, retried, lines = deliver(controller, caplog)
    finally:
        controller.stop()
    assert (sent, failed, retried, handler.sessions) == (0, 1, 0, 1)
    assert len(lines) == 1 and "No suitable authentication method found." in lines[0], lines


def test_rejected_credentials_are_given_up_at_once(handler: Counting) -> None:
    controller = start(
        handler,
        authenticator=lambda *args: AuthResult(success=False, handled=False),
        auth_require_tls=False,
        auth_exclude_mechanism=["LOGIN"],
    )
    try:
        notifier = EmailNotifier(
            f"127.0.0.1:{controller.port}", "a@example.com", ["b@example.com"], username="u", password="p"
        )
        with pytest.raises(PermanentError, match=r"^SMTP authentication failed: 535$"):
            notifier.send([ALERT])
    finally:
        controller.stop()


def test_a_capability_the_server_lacks_is_given_up_at_once(handler: Counting) -> None:
    controller = start(handler, enable_SMTPUTF8=False)
    try:
        notifier = EmailNotifier(f"127.0.0.1:{controller.port}", "alerts@example.com", ["bjørn@example.com"])
        with pytest.raises(PermanentError, match=r"^SMTP not supported by 127\.0\.0\.1:\d+: .*SMTPUTF8"):
            notifier.send([ALERT])
    finally:
        controller.stop()
