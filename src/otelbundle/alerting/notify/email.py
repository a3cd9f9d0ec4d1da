"""Email over SMTP (standard library): multipart plain text + HTML, STARTTLS per ``starttls``.

``auto`` upgrades when the server offers STARTTLS, ``always`` refuses to send
without it (PermanentError: a config problem, retrying cannot help), ``never``
stays plain. Credentials come from env vars only. Resolved mails are off by
default (``send_resolved: false``): mail is the noisiest channel. Evidence rows
follow the annotations; log lines keep their line breaks (``<pre>`` in HTML). A mail shows at
most :data:`MAX_ALERTS_IN_MAIL` alerts in full and names the rest.
"""

from __future__ import annotations

import html
import smtplib
import ssl
from collections import Counter
from collections.abc import Sequence
from email.message import EmailMessage
from email.utils import getaddresses
from typing import Literal

from otelbundle.alerting.alert import Alert
from otelbundle.alerting.notify.base import PermanentError, RetryableError, rfc3339
from otelbundle.alerting.printable import printable
from otelbundle.sdk.export.exit_flush import unreachable

StartTLS = Literal["auto", "always", "never"]

# Alerts shown in full in one mail; the rest are counted by name on a closing line. An outage's
# first dispatch can hold thousands of alerts: one mail of them all (~8 KB an alert with evidence,
# plain and HTML) outgrew mail servers' size limits (often 10-25 MB, refused with 552, and no alert
# arrived), and a reader does not read past the first screens. Alertmanager, the webhook and the
# alerts' own metrics carry every one of them.
MAX_ALERTS_IN_MAIL = 100


def _lines(alert: Alert) -> list[tuple[str, str]]:
    """The rows of one alert, each key and value :func:`printable`: one lone surrogate made the
    message impossible to encode, and the mail was lost at every retry."""
    return [(printable(key), printable(value)) for key, value in _rows(alert)]


def _rows(alert: Alert) -> list[tuple[str, str]]:
    rows = [("status", alert.status), ("started", rfc3339(alert.starts_at))]
    if alert.status == "resolved":
        rows.append(("resolved", rfc3339(alert.ends_at)))
    rows += [(f"label {k}", v) for k, v in sorted(alert.labels.items())]
    rows += [(f"annotation {k}", v) for k, v in sorted(alert.annotations.items())]
    if alert.generator_url:
        rows.append(("source", alert.generator_url))
    rows += [("trace", t) for t in alert.trace_ids]
    for number, evidence in enumerate(alert.evidence, start=1):
        rows += [
            (f"evidence {number} {key}", value)
            for key, value in (
                ("exception", evidence.exception),
                ("span", evidence.span),
                ("logger", evidence.logger),
                ("trace", evidence.trace_url or evidence.trace_id),
                ("logs", "\n".join(evidence.log_lines)),
            )
            if value
        ]
    return rows


def _plain_row(key: str, value: str) -> str:
    return f"  {key}: " + value.replace("\n", "\n      ")


def _html_value(value: str) -> str:
    escaped = html.escape(value)
    return f"<pre>{escaped}</pre>" if "\n" in value else escaped


def _left_out(alerts: Sequence[Alert]) -> str:
    """The closing line when alerts were left out: how many, and how many of each name."""
    counts = Counter(printable(a.name) for a in alerts)
    names = ", ".join(f"{name} ×{count}" if count > 1 else name for name, count in sorted(counts.items()))
    n = len(alerts)
    return (
        f"… and {n} more alert{'s' if n > 1 else ''} not shown in this mail ({names}). "
        "See Alertmanager or the other channels these alerts go to."
    )


def email_message(alerts: Sequence[Alert], sender: str, to: Sequence[str]) -> EmailMessage:
    firing = sum(1 for a in alerts if a.status == "firing")
    names = ", ".join(sorted({printable(a.name) for a in alerts}))
    status = f"FIRING:{firing}" if firing else "RESOLVED"
    message = EmailMessage()
    message["Subject"] = f"[{status}] {names}"[:200].replace("\n", " ").replace("\t", " ")
    message["From"] = sender
    message["To"] = ", ".join(to)
    shown, rest = alerts[:MAX_ALERTS_IN_MAIL], alerts[MAX_ALERTS_IN_MAIL:]
    plain = "\n\n".join(
        f"{printable(a.name)}\n" + "\n".join(_plain_row(k, v) for k, v in _lines(a)) for a in shown
    )
    message.set_content(plain + (f"\n\n{_left_out(rest)}" if rest else ""))
    parts = []
    for alert in shown:
        rows = "".join(
            f"<tr><th>{html.escape(k)}</th><td>{_html_value(v)}</td></tr>" for k, v in _lines(alert)
        )
        parts.append(f"<h2>{html.escape(printable(alert.name))}</h2><table>{rows}</table>")
    if rest:
        parts.append(f"<p>{html.escape(_left_out(rest))}</p>")
    message.add_alternative("<html><body>" + "".join(parts) + "</body></html>", subtype="html")
    return message


class EmailNotifier:
    def __init__(
        self,
        smarthost: str,
        sender: str,
        to: Sequence[str],
        *,
        starttls: StartTLS = "auto",
        username: str | None = None,
        password: str | None = None,
        timeout: float = 5.0,
        send_resolved: bool = False,
        ssl_context: ssl.SSLContext | None = None,
    ) -> None:
        self.name = "email"
        host, _, port = smarthost.rpartition(":")
        self.host, self.port = (host, int(port)) if host else (smarthost, 25)
        self.sender = sender
        self.to = list(to)
        self.starttls = starttls
        self.username = username
        self.password = password
        self.timeout = timeout
        self.send_resolved = send_resolved
        self.ssl_context = ssl_context or ssl.create_default_context()

    def send(self, alerts: Sequence[Alert]) -> None:
        chosen = [a for a in alerts if self.send_resolved or a.status == "firing"]
        if not chosen:
            return
        message = email_message(chosen, self.sender, self.to)
        try:
            with smtplib.SMTP(self.host, self.port, timeout=self.timeout) as smtp:
                smtp.ehlo()
                secured = False
                if self.starttls != "never" and smtp.has_extn("starttls"):
                    smtp.starttls(context=self.ssl_context)
                    smtp.ehlo()
                    secured = True
                elif self.starttls == "always":
                    raise PermanentError(
                        f"{self.host}:{self.port} does not offer STARTTLS (starttls: always)"
                    )
                if self.username:
                    self._login(smtp, secured)
                refused = smtp.send_message(message)  # raises only when every recipient is refused
        except smtplib.SMTPAuthenticationError as exc:
            raise PermanentError(f"SMTP authentication failed: {exc.smtp_code}") from None
        except smtplib.SMTPNotSupportedError as exc:  # e.g. SMTPUTF8 addresses: the server lacks it
            raise PermanentError(f"SMTP not supported by {self.host}:{self.port}: {exc}") from None
        except smtplib.SMTPResponseException as exc:
            if 400 <= exc.smtp_code < 500:
                raise RetryableError(f"SMTP {exc.smtp_code}: {exc.smtp_error!r}") from None
            raise PermanentError(f"SMTP {exc.smtp_code}: {exc.smtp_error!r}") from None
        except smtplib.SMTPRecipientsRefused as exc:
            raise PermanentError(f"SMTP recipients refused: {sorted(exc.recipients)}") from None
        except (smtplib.SMTPException, OSError) as exc:
            raise RetryableError(
                f"SMTP {type(exc).__name__}: {exc}", unreachable=unreachable(exc) is not None
            ) from None
        if refused:  # the others got it: not retried, but not silently lost either
            others = len(getaddresses(self.to)) - len(refused)  # an item may name several
            raise PermanentError(
                f"SMTP recipients refused: {sorted(refused)} ({others} other recipient"
                f"{'s' if others != 1 else ''} got the mail)",
                delivered=True,
            )

    def _login(self, smtp: smtplib.SMTP, secured: bool) -> None:
        """A server that offers no AUTH, or none smtplib speaks, will not offer it on the next
        attempt either: give up at once, as for rejected credentials, instead of five retries."""
        try:
            smtp.login(self.username or "", self.password or "")
        except smtplib.SMTPNotSupportedError as exc:
            raise PermanentError(self._no_auth(str(exc), secured)) from None
        except smtplib.SMTPException as exc:
            if type(exc) is not smtplib.SMTPException:  # a refusal (535), a disconnect: handled by send
                raise
            raise PermanentError(self._no_auth(str(exc), secured)) from None

    def _no_auth(self, reason: str, secured: bool) -> str:
        hint = "" if secured else "; many servers offer AUTH only after STARTTLS, and this session was plain"
        return f"SMTP AUTH impossible on {self.host}:{self.port} (username is set): {reason}{hint}"
