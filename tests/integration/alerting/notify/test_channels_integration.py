"""Slack, PagerDuty, email and Alertmanager notifiers against real receivers on loopback."""

from __future__ import annotations

import json
import socket
import ssl
import subprocess
import time
import urllib.request
from datetime import datetime, timedelta, timezone
from email import message_from_bytes, policy
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, Envelope, Session

from harness.http_sink import Sink
from otelbundle.alerting.alert import Alert
from otelbundle.alerting.notify import AlertmanagerNotifier, NotificationDispatcher, PermanentError
from otelbundle.alerting.notify.email import EmailNotifier
from otelbundle.alerting.notify.pagerduty import PagerDutyNotifier
from otelbundle.alerting.notify.slack import SlackNotifier

from .conftest import free_port


def make_alert(status: str = "firing", name: str = "CheckoutErrors") -> Alert:
    # "now" per alert, not at import: the full suite runs minutes of e2e tests first, and a
    # firing alert whose endsAt has passed is treated as resolved by Alertmanager.
    now = datetime.now(timezone.utc).replace(microsecond=0)
    return Alert(
        labels={"alertname": name, "severity": "warning", "service.name": "storefront"},
        annotations={"summary": "12% of <checkouts> fail & <!channel>"},
        status=status,  # type: ignore[arg-type]
        starts_at=now - timedelta(minutes=5),
        ends_at=now + timedelta(minutes=5) if status == "firing" else now,
        generator_url="http://storefront:8000/alerts#CheckoutErrors",
    )


def test_slack_retries_5xx_and_429_then_delivers_escaped(sink: Sink) -> None:
    sink.statuses = [500, 429]
    dispatcher = NotificationDispatcher([SlackNotifier(sink.url + "/hook")], base_delay=0.01)
    dispatcher.submit([make_alert()])
    assert dispatcher.flush(10)
    stats = dispatcher.stats()["slack"]
    assert (stats.sent, stats.retried, stats.failed) == (1, 2, 0)
    assert len(sink.requests) == 3
    path, headers, body = sink.requests[-1]
    assert path == "/hook" and headers["Content-Type"] == "application/json"
    assert "<!channel>" not in json.dumps([body["text"], body["blocks"][1:]])
    assert (
        body["blocks"][1]["text"]["text"]
        == ":red_circle: 12% of &lt;checkouts&gt; fail &amp; &lt;!channel&gt;"
    )
    dispatcher.shutdown()


def test_pagerduty_trigger_then_resolve_same_dedup_key(sink: Sink) -> None:
    notifier = PagerDutyNotifier("R0UTING", url=sink.url + "/v2/enqueue")
    notifier.send([make_alert()])
    notifier.send([make_alert("resolved")])
    (p1, _, trigger), (p2, _, resolve) = sink.requests
    assert p1 == p2 == "/v2/enqueue"
    assert trigger["event_action"] == "trigger" and resolve["event_action"] == "resolve"
    assert trigger["dedup_key"] == resolve["dedup_key"] == make_alert().fingerprint
    assert trigger["payload"]["source"] == "storefront" and trigger["payload"]["severity"] == "warning"
    assert trigger["routing_key"] == "R0UTING"


def test_pagerduty_400_gives_up(sink: Sink) -> None:
    sink.statuses = [400]
    with pytest.raises(PermanentError, match="HTTP 400"):
        PagerDutyNotifier("bad", url=sink.url + "/v2/enqueue").send([make_alert()])


def test_never_answering_server_does_not_slow_submit() -> None:
    """A server that accepts but never answers: submit stays immediate, the send times out on the worker."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(100)
    url = f"http://127.0.0.1:{listener.getsockname()[1]}"
    closed = f"http://127.0.0.1:{free_port()}"
    dispatcher = NotificationDispatcher(
        [SlackNotifier(url, timeout=0.5), PagerDutyNotifier("k", url=closed, timeout=0.5)],
        queue_size=10,
        max_retries=1,
        base_delay=0.01,
    )
    for number in range(50):  # 50 alerts: one re-sent 50 times would be held back by repeat_interval
        dispatcher.submit([make_alert(name=f"CheckoutErrors{number}")])
    stats = dispatcher.stats()
    # every submit returned while the workers were stuck; the excess was dropped and counted
    assert stats["slack"].sent == 0 and stats["slack"].dropped >= 39
    assert stats["pagerduty"].sent == 0
    dispatcher.shutdown(0.1)
    listener.close()


# --- email -----------------------------------------------------------------------------------


class Recorder:
    def __init__(self) -> None:
        self.messages: list[tuple[Envelope, EmailMessage, bool]] = []

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        raw = envelope.original_content or b""
        parsed = message_from_bytes(raw, policy=policy.default)
        assert isinstance(parsed, EmailMessage)
        self.messages.append((envelope, parsed, session.ssl is not None))
        return "250 OK"


@pytest.fixture(scope="module")
def tls_files(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    folder = tmp_path_factory.mktemp("tls")
    cert, key = folder / "cert.pem", folder / "key.pem"
    subprocess.run(
        [
            "openssl",
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-days",
            "1",
            "-subj",
            "/CN=localhost",
            "-addext",
            "subjectAltName=DNS:localhost,IP:127.0.0.1",
            "-keyout",
            str(key),
            "-out",
            str(cert),
        ],
        check=True,
        capture_output=True,
    )
    return cert, key


def smtp_server(tls: tuple[Path, Path] | None) -> tuple[Controller, Recorder]:
    recorder = Recorder()
    context = None
    if tls:
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(str(tls[0]), str(tls[1]))
    controller = Controller(
        recorder, hostname="127.0.0.1", port=free_port(), tls_context=context, require_starttls=bool(tls)
    )
    controller.start()
    return controller, recorder


def test_email_starttls_when_offered(tls_files: tuple[Path, Path]) -> None:
    controller, recorder = smtp_server(tls_files)
    try:
        client_context = ssl.create_default_context(cafile=str(tls_files[0]))
        notifier = EmailNotifier(
            f"127.0.0.1:{controller.port}",
            "alerts@example.com",
            ["ops@example.com"],
            ssl_context=client_context,
        )
        notifier.send([make_alert(), make_alert("resolved", "Other")])
        ((envelope, message, used_tls),) = recorder.messages
        assert used_tls
        assert envelope.rcpt_tos == ["ops@example.com"]
        assert message["Subject"] == "[FIRING:1] CheckoutErrors"  # resolved mail is off by default
        plain, html_part = message.get_body(("plain",)), message.get_body(("html",))
        assert plain is not None and html_part is not None
        assert "annotation summary: 12% of <checkouts> fail & <!channel>" in plain.get_content()
        assert "12% of &lt;checkouts&gt; fail &amp; &lt;!channel&gt;" in html_part.get_content()
    finally:
        controller.stop()


def test_email_plain_server_auto_sends_but_always_refuses() -> None:
    controller, recorder = smtp_server(None)
    try:
        host = f"127.0.0.1:{controller.port}"
        EmailNotifier(host, "a@example.com", ["b@example.com"], send_resolved=True).send(
            [make_alert("resolved")]
        )
        ((_, message, used_tls),) = recorder.messages
        assert not used_tls and message["Subject"] == "[RESOLVED] CheckoutErrors"
        with pytest.raises(PermanentError, match="STARTTLS"):
            EmailNotifier(host, "a@example.com", ["b@example.com"], starttls="always").send([make_alert()])
        assert len(recorder.messages) == 1
    finally:
        controller.stop()


class RefusesTypos(Recorder):
    async def handle_RCPT(
        self, server: SMTP, session: Session, envelope: Envelope, address: str, rcpt_options: list[str]
    ) -> str:
        if address.startswith("typo"):
            return "550 5.1.1 no such user"
        envelope.rcpt_tos.append(address)
        return "250 OK"


def test_email_a_refused_recipient_is_reported_not_counted_sent() -> None:
    """One refused recipient of two: smtplib returns it instead of raising, and the mail counted
    as sent with nothing said, so that recipient silently never got an alert."""
    recorder = RefusesTypos()
    controller = Controller(recorder, hostname="127.0.0.1", port=free_port())
    controller.start()
    try:
        notifier = EmailNotifier(
            f"127.0.0.1:{controller.port}", "a@example.com", ["ops@example.com", "typo@example.com"]
        )
        dispatcher = NotificationDispatcher([notifier], base_delay=0.01)
        dispatcher.submit([make_alert()])
        assert dispatcher.flush(5)
        ((envelope, _, _),) = recorder.messages  # sent once: the others got it, no retry
        assert envelope.rcpt_tos == ["ops@example.com"]
        assert dispatcher.stats()["email"].failed == 1 and dispatcher.stats()["email"].sent == 0
        with pytest.raises(PermanentError, match=r"refused: \['typo@example.com'\] \(1 other recipient got"):
            notifier.send([make_alert()])
        dispatcher.shutdown()
    finally:
        controller.stop()


# --- a real Alertmanager ----------------------------------------------------------------------


def active_alerts(url: str) -> list[dict[str, Any]]:
    with urllib.request.urlopen(
        f"{url}/api/v2/alerts?active=true&silenced=false&inhibited=false", timeout=5
    ) as r:
        alerts: list[dict[str, Any]] = json.loads(r.read())
    return alerts


def test_real_alertmanager_fire_then_resolve(alertmanager: str) -> None:
    notifier = AlertmanagerNotifier(alertmanager)
    firing = make_alert(name="OtelbundleNotifyTest")
    notifier.send([firing])
    deadline = time.monotonic() + 10
    while not (
        shown_list := [
            a for a in active_alerts(alertmanager) if a["labels"].get("alertname") == "OtelbundleNotifyTest"
        ]
    ):
        assert time.monotonic() < deadline, "the firing alert never became active in Alertmanager"
        time.sleep(0.1)
    (shown,) = shown_list
    # dotted OTel names are mapped to valid Prometheus label names (Alertmanager rejects them with a 400)
    assert shown["labels"] == {
        "alertname": "OtelbundleNotifyTest",
        "severity": "warning",
        "service_name": "storefront",
    }
    assert shown["annotations"] == dict(firing.annotations)
    assert shown["generatorURL"] == firing.generator_url
    assert shown["fingerprint"]
    notifier.send([make_alert("resolved", name="OtelbundleNotifyTest")])
    deadline = time.monotonic() + 10  # Alertmanager applies resolves on its next GC/read; poll, not time
    while any(a["labels"].get("alertname") == "OtelbundleNotifyTest" for a in active_alerts(alertmanager)):
        assert time.monotonic() < deadline, "resolved alert still active in Alertmanager"
        time.sleep(0.2)


def test_email_the_other_recipients_are_counted_by_address() -> None:
    """A `to` item may hold several addresses: three got the mail, and it said "1 other recipient"."""
    recorder = RefusesTypos()
    controller = Controller(recorder, hostname="127.0.0.1", port=free_port())
    controller.start()
    try:
        notifier = EmailNotifier(
            f"127.0.0.1:{controller.port}",
            "a@example.com",
            ["a@example.com, b@example.com, c@example.com", "typo@example.com"],
            starttls="never",
        )
        with pytest.raises(
            PermanentError, match=r"\['typo@example.com'\] \(3 other recipients got the mail\)"
        ):
            notifier.send([make_alert()])
        ((envelope, _, _),) = recorder.messages
        assert envelope.rcpt_tos == ["a@example.com", "b@example.com", "c@example.com"]
    finally:
        controller.stop()
