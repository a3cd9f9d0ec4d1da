"""What every notifier is, and the one HTTP call they share (standard library only)."""

from __future__ import annotations

import contextlib
import http.client
import json
import math
import re
import time
import urllib.error
import urllib.request
from collections.abc import Mapping, Sequence
from email.utils import parsedate_to_datetime
from typing import IO, Any, Protocol
from urllib.parse import urljoin

from otelbundle.alerting.alert import Alert
from otelbundle.alerting.printable import valid_utf8
from otelbundle.config.urls import redacted_url as _redacted
from otelbundle.scrub.rules import MARKER
from otelbundle.sdk.export.exit_flush import unreachable


class RetryableError(Exception):
    """5xx, 429, connection errors, timeouts: try again later (after ``retry_after`` if given).

    A notifier that sends a batch in parts (PagerDuty: one request per alert; Alertmanager and
    webhook: chunks.py) says which alerts the retry needs (``retry``: the others were accepted,
    and must not be sent twice) and what it already gave up on (``lost``: a permanent failure
    to report now; ``refused``: its alerts, when known, so that only they are handed back).
    """

    def __init__(
        self,
        message: str,
        retry_after: float | None = None,
        *,
        retry: Sequence[Alert] | None = None,
        lost: str | None = None,
        refused: Sequence[Alert] | None = None,
        unreachable: bool = False,
    ) -> None:
        super().__init__(message)
        self.retry_after = retry_after
        self.retry = retry
        self.lost = lost
        self.refused = refused
        self.unreachable = unreachable  # nothing listens there (refused, unknown host): not retried at exit


class PermanentError(Exception):
    """Other 4xx, and any 3xx (redirects are not followed): retrying cannot help.

    ``delivered``: the notification went out, only not everywhere (a mail some of whose
    recipients were refused): reported and counted failed, but sent as far as repeat_interval
    is concerned, or the recipients who got it would get it again at the next re-send.
    ``refused``: the alerts given up on when the rest of the batch went out (chunks.py); None:
    all the alerts this ``send`` was given. ``status``: the HTTP status of the refusal, if any.
    """

    def __init__(
        self,
        message: str,
        *,
        delivered: bool = False,
        refused: Sequence[Alert] | None = None,
        status: int | None = None,
    ) -> None:
        super().__init__(message)
        self.delivered = delivered
        self.refused = refused
        self.status = status  # the HTTP status, when an HTTP answer refused it (413: chunks.py splits)


class Notifier(Protocol):
    name: str

    def send(self, alerts: Sequence[Alert]) -> None:
        """Deliver or raise RetryableError / PermanentError."""


class _RefuseRedirects(urllib.request.HTTPRedirectHandler):
    """urllib would follow a 301/302/303 as a body-less GET (which most receivers answer 200,
    so the alert counted as sent was lost) and carry our headers, ``Authorization`` included,
    to whatever host the Location names. A notification goes to the configured URL or nowhere:
    every 3xx is left to surface as an HTTPError."""

    def redirect_request(
        self,
        req: urllib.request.Request,
        fp: IO[bytes],
        code: int,
        msg: str,
        headers: http.client.HTTPMessage,
        newurl: str,
    ) -> urllib.request.Request | None:
        return None


_OPENER = urllib.request.build_opener(_RefuseRedirects)
MAX_ANSWER = 64 * 1024
"""Bytes of a 2xx answer read before the connection is closed: the status is the answer, and a
URL that streams a large body (a download pasted as the webhook) must not fill the app's memory."""


def redacted_url(url: str) -> str:
    """``url`` fit for a log line: user-info and query replaced by the scrubbing marker (either
    may hold a token, e.g. a signed URL), the fragment dropped; scheme, host, port and path stay."""
    return _redacted(url, MARKER)


def _redirect_message(code: int, url: str, location: str | None) -> str:
    if not location:
        return f"HTTP {code}: a redirect without a Location; notifications do not follow redirects"
    try:
        target = redacted_url(urljoin(url, location))
    except ValueError:
        target = "(an unreadable URL)"
    return (
        f"HTTP {code}: redirected to {target}; notifications do not follow redirects "
        "(the POST would arrive as a GET, with this channel's headers): configure the final URL"
    )


_HEADER_NAME = re.compile(r"[!#$%&'*+.^_`|~0-9A-Za-z-]+")  # RFC 9110's token
_CONTROL = re.compile(r"[\x00-\x08\x0a-\x1f\x7f]")  # a tab is allowed in a field value


def is_header_name(name: str) -> bool:
    return _HEADER_NAME.fullmatch(name) is not None


def header_problem(name: str, value: str) -> str | None:
    """What makes this header impossible to send (said without the value: it may be a token),
    or None. http.client writes a value as Latin-1 bytes and refuses a line break in it, and
    its errors quote the value."""
    if not is_header_name(name):
        return "is not a header name"
    if _CONTROL.search(value):
        return "holds a line break or control character"
    try:
        value.encode("latin-1")
    except UnicodeEncodeError:
        return (
            "holds a character outside Latin-1 (such as ☃ or €), which an HTTP header cannot carry: "
            "write it in ASCII, or percent-encode it if the receiver decodes that"
        )
    return None


def json_bytes(body: Any) -> bytes:
    """``body`` as the compact UTF-8 JSON every channel sends."""
    # Not ensure_ascii: it would write a lone surrogate as "\udcff", which strict parsers refuse.
    return valid_utf8(json.dumps(body, separators=(",", ":"), ensure_ascii=False)).encode("utf-8")


def post_json(url: str, body: Any, *, headers: Mapping[str, str] | None = None, timeout: float = 5.0) -> None:
    post_bytes(url, json_bytes(body), headers=headers, timeout=timeout)


def post_bytes(
    url: str, data: bytes, *, headers: Mapping[str, str] | None = None, timeout: float = 5.0
) -> None:
    """POSTs ``data`` (JSON already encoded); raises RetryableError or PermanentError."""
    for name, value in (headers or {}).items():
        problem = header_problem(name, value)
        if problem is not None:  # the channel's config check refuses these: only code gets here
            raise PermanentError(
                f"a header of this channel {problem}; it is not valid HTTP (not shown, it may be a secret)"
            )
    request = urllib.request.Request(url, data=data, method="POST")
    request.add_header("Content-Type", "application/json")
    request.add_header("User-Agent", "otelbundle-alerting")
    for name, value in (headers or {}).items():
        request.add_header(name, value)
    try:
        _send(request, url, timeout)
    except http.client.InvalidURL:  # a space or control character: quoted with the path (a token)
        raise PermanentError(
            "the URL of this channel holds a space or control character: percent-encode it (a space "
            "is %20); it is not shown, it may hold a token"
        ) from None
    except UnicodeEncodeError:  # the headers were checked above: the URL's path or query
        raise PermanentError(
            "the URL of this channel holds a character outside ASCII: percent-encode it (é is %C3%A9); "
            "it is not shown, it may hold a token"
        ) from None
    except ValueError:  # http.client's own refusals quote the text (a token): not shown
        raise PermanentError(
            "the URL of this channel is not valid HTTP; it is not shown, it may hold a token"
        ) from None


def _send(request: urllib.request.Request, url: str, timeout: float) -> None:
    try:
        # A 2xx status is the answer (sent); reading the rest may fail without changing that.
        with (
            _OPENER.open(request, timeout=timeout) as response,
            contextlib.suppress(OSError, http.client.HTTPException),
        ):
            response.read(MAX_ANSWER)
    except urllib.error.HTTPError as exc:
        if 300 <= exc.code < 400:
            raise PermanentError(_redirect_message(exc.code, url, exc.headers.get("Location"))) from None
        try:  # the log shows 200 bytes: read no more of a body that may not end
            body = exc.read(200).decode("utf-8", "replace").strip()
        except (OSError, http.client.HTTPException):  # the status says enough: a cut body must not
            body = ""  # turn a 503 into an "unexpected error" that is never retried
        detail = f"HTTP {exc.code}: {body}" if body else f"HTTP {exc.code}"  # no dangling ': '
        if exc.code == 429 or exc.code >= 500:
            raise RetryableError(detail, retry_after_seconds(exc.headers.get("Retry-After"))) from None
        raise PermanentError(detail, status=exc.code) from None
    except http.client.InvalidURL:
        raise  # not transient: post_bytes says it without the URL
    except (urllib.error.URLError, OSError, http.client.HTTPException) as exc:
        # HTTPException: a garbled or cut answer (BadStatusLine, IncompleteRead), as transient as a reset
        raise RetryableError(
            f"{type(exc).__name__}: {getattr(exc, 'reason', exc)}", unreachable=unreachable(exc) is not None
        ) from None


def retry_after_seconds(value: str | None, now: float | None = None) -> float | None:
    """Retry-After in seconds: delay-seconds (``120``) or an HTTP-date
    (``Wed, 21 Oct 2026 07:28:00 GMT``, counted from ``now``); None when absent or unreadable."""
    if not value:
        return None
    try:
        seconds = float(value)
    except ValueError:
        try:
            seconds = parsedate_to_datetime(value.strip()).timestamp() - (time.time() if now is None else now)
        except (TypeError, ValueError, IndexError, OverflowError):
            return None
    return max(0.0, seconds) if math.isfinite(seconds) else None


def rfc3339(alert_time: Any) -> str:
    return str(alert_time.strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z")
