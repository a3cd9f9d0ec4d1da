"""Text no channel can carry as it is: lone surrogates, colour codes, NUL and other controls.

A ``str`` from a span or a log may hold a lone surrogate (a file name decoded with
``surrogateescape``): the email could not be built (an "unexpected error", the mail lost at
every retry) and the JSON bodies carried ``\\udcff``, which strict JSON parsers refuse. Each
channel is checked with a real receiver, on the bytes that arrived.
"""

from __future__ import annotations

import json
import socket
from collections.abc import Iterator
from datetime import datetime, timezone
from email import policy
from email.message import EmailMessage
from email.parser import BytesParser
from typing import Any

import pytest
from aiosmtpd.controller import Controller

from otelbundle.alerting.alert import Alert, Evidence
from otelbundle.alerting.notify import AlertmanagerNotifier, NotificationDispatcher, WebhookNotifier
from otelbundle.alerting.notify.email import EmailNotifier
from otelbundle.alerting.notify.pagerduty import PagerDutyNotifier
from otelbundle.alerting.notify.slack import SlackNotifier
from otelbundle.alerting.printable import printable
from tests.unit.alerting.notify.conftest import Scripted

T0 = datetime(2026, 1, 1, tzinfo=timezone.utc)
BAD = "file /srv/\udcff.csv \x1b[31mred\x1b[0m nul\x00 bell\x07 cr\r\nend"
ALERT = Alert(
    labels={"alertname": "CheckoutErrors", "severity": "critical", "path": "/srv/\udcfe.csv"},
    annotations={"summary": "fails on \udcff"},
    status="firing",
    starts_at=T0,
    ends_at=T0,
    evidence=(
        Evidence(
            "4bf92f3577b34da6a3ce929d0e0e4736",
            span_name="GET /files",
            exception_type="OSError",
            exception_message=BAD,
            log_lines=(BAD, "plain line"),
        ),
    ),
)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class Mailbox:
    def __init__(self) -> None:
        self.messages: list[bytes] = []

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.messages.append(envelope.original_content or envelope.content)
        return "250 OK"


@pytest.fixture
def mailbox() -> Iterator[tuple[Mailbox, int]]:
    box = Mailbox()
    controller = Controller(box, hostname="127.0.0.1", port=free_port())
    controller.start()
    yield box, controller.port
    controller.stop()


def test_every_channel_delivers_valid_utf8(scripted: Scripted, mailbox: tuple[Mailbox, int]) -> None:
    box, port = mailbox
    dispatcher = NotificationDispatcher(
        [
            WebhookNotifier(f"{scripted.url}/webhook"),
            SlackNotifier(f"{scripted.url}/slack"),
            PagerDutyNotifier("key", url=f"{scripted.url}/pagerduty"),
            AlertmanagerNotifier(f"{scripted.url}/am"),
            EmailNotifier(f"127.0.0.1:{port}", "a@example.com", ["b@example.com"], starttls="never"),
        ],
        base_delay=0.01,
    )
    dispatcher.submit([ALERT])
    assert dispatcher.flush(30)
    dispatcher.shutdown()
    assert {name: (s.sent, s.failed) for name, s in dispatcher.stats().items()} == {
        name: (1, 0) for name in ("webhook", "slack", "pagerduty", "alertmanager", "email")
    }
    assert sorted(seen.path for seen in scripted.seen) == [
        "/am/api/v2/alerts",
        "/pagerduty",
        "/slack",
        "/webhook",
    ]
    for seen in scripted.seen:
        text = seen.raw.decode("utf-8")  # strict: a lone surrogate cannot be in valid UTF-8
        assert "\\ud" not in text.lower(), seen.path  # nor escaped as JSON's \udcff
        assert "\ufffd" in text and json.loads(text)
    (raw,) = box.messages
    message = BytesParser(policy=policy.default).parsebytes(raw)
    assert isinstance(message, EmailMessage)
    plain, rich = (part.get_content() for part in message.iter_parts())
    for body in (plain, rich):
        assert "/srv/\ufffd.csv" in body and "fails on \ufffd" in body
        assert not any(char in body for char in "\x00\x07\x1b\udcff")
        assert "red" in body and "[31m" not in body  # the colour code goes whole


@pytest.mark.parametrize(
    ("raw", "shown"),
    [
        ("plain text\n\ttab", "plain text\n\ttab"),
        ("\x1b[1;31mERROR\x1b[0m x", "ERROR x"),
        ("\x1b]0;title\x07after", "after"),  # a terminal title sequence
        ("a\x00b\x7fc\x85d", "abcd"),
        ("one\r\ntwo\rthree", "one\ntwo\nthree"),
        ("\udcff\ud800", "\ufffd\ufffd"),
        ("emoji \U0001f525 stays", "emoji \U0001f525 stays"),
    ],
)
def test_printable(raw: str, shown: str) -> None:
    assert printable(raw) == shown
