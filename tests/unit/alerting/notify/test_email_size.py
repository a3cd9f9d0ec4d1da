"""An outage's first dispatch can hold thousands of alerts: the mail shows a hundred and names the
rest, so it stays under a mail server's size limit (aiosmtpd on loopback, with a limit)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timezone
from email import policy
from email.message import EmailMessage
from email.parser import BytesParser
from typing import Any

import pytest
from aiosmtpd.controller import Controller

from otelbundle.alerting.alert import Alert, Evidence
from otelbundle.alerting.notify import NotificationDispatcher
from otelbundle.alerting.notify.email import MAX_ALERTS_IN_MAIL, EmailNotifier
from tests.unit.alerting.notify.test_hostile_text import Mailbox, free_port

T0 = datetime(2026, 12, 7, 12, 0, tzinfo=timezone.utc)
LIMIT = 5 * 1024 * 1024  # a small mail server's limit; common ones are 10-25 MB


@pytest.fixture
def limited_mailbox() -> Iterator[tuple[Mailbox, int]]:
    box = Mailbox()
    controller = Controller(box, hostname="127.0.0.1", port=free_port(), data_size_limit=LIMIT)
    controller.start()
    yield box, controller.port
    controller.stop()


def _alert(index: int, name: str) -> Alert:
    return Alert(
        {"alertname": name, "service_name": f"svc-{index}", "severity": "critical"},
        {"summary": f"error rate of svc-{index} is 100 %"},
        "firing",
        T0,
        T0,
        evidence=(
            Evidence(
                f"{index:032x}",
                span_name="GET /checkout",
                exception_type="ValueError",
                exception_message="card declined " * 40,
                log_lines=tuple(f"line {n}: " + "x" * 480 for n in range(5)),
            ),
        ),
    )


def _parts(raw: bytes) -> tuple[Any, str, str]:
    message = BytesParser(policy=policy.default).parsebytes(raw)
    assert isinstance(message, EmailMessage)
    plain, rich = (part.get_content() for part in message.iter_parts())
    return message, plain, rich


def test_a_dispatch_of_thousands_of_alerts_arrives_as_one_mail_naming_those_not_shown(
    limited_mailbox: tuple[Mailbox, int],
) -> None:
    """Before, all 2 000 alerts went in one ~14 MB mail, the server refused it (552) and none arrived."""
    box, port = limited_mailbox
    alerts = [_alert(i, "HighErrorRate") for i in range(1500)] + [
        _alert(i, "SlowCheckout") for i in range(500)
    ]
    notifier = EmailNotifier(f"127.0.0.1:{port}", "alerts@example.com", ["ops@example.com"], starttls="never")
    dispatcher = NotificationDispatcher([notifier], base_delay=0.01)
    dispatcher.submit(alerts)
    assert dispatcher.flush(60)
    dispatcher.shutdown()
    assert (dispatcher.stats()["email"].sent, dispatcher.stats()["email"].failed) == (1, 0)
    (raw,) = box.messages
    assert len(raw) < LIMIT
    message, plain, rich = _parts(raw)
    assert message["Subject"] == "[FIRING:2000] HighErrorRate, SlowCheckout"
    left = 2000 - MAX_ALERTS_IN_MAIL
    closing = (
        f"… and {left} more alerts not shown in this mail (HighErrorRate ×{1500 - MAX_ALERTS_IN_MAIL}, "
        "SlowCheckout ×500). See Alertmanager or the other channels these alerts go to."
    )
    assert plain.rstrip().endswith(closing)
    assert closing in rich
    assert plain.count("service_name: svc-") == MAX_ALERTS_IN_MAIL
    shown = [line.strip() for line in plain.splitlines() if "service_name: " in line]
    assert shown == [f"label service_name: svc-{i}" for i in range(MAX_ALERTS_IN_MAIL)]  # the first, in order


def test_a_mail_of_up_to_a_hundred_alerts_shows_them_all_and_no_closing_line(
    limited_mailbox: tuple[Mailbox, int],
) -> None:
    box, port = limited_mailbox
    notifier = EmailNotifier(f"127.0.0.1:{port}", "alerts@example.com", ["ops@example.com"], starttls="never")
    notifier.send([_alert(i, "HighErrorRate") for i in range(MAX_ALERTS_IN_MAIL)])
    (raw,) = box.messages
    _, plain, rich = _parts(raw)
    assert plain.count("service_name: svc-") == MAX_ALERTS_IN_MAIL
    assert "not shown in this mail" not in plain and "not shown in this mail" not in rich
