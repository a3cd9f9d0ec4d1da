"""The ``http`` check kind: a URL answers with an expected status (and body).

Apart from the other kinds because of what an HTTP check must get right: credentials in
its URL sent as Basic auth and never shown, headers kept to the host they were written
for across redirects, and a run cut off at its timeout (its sockets shut down) when a
server drips its answer.
"""

from __future__ import annotations

import base64
import http.client
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass, field
from typing import Any

from otelbundle.health.checks import CheckSpec, reason_of
from otelbundle.health.http_connections import Sockets, TrackedHTTPHandler, TrackedHTTPSHandler
from otelbundle.health.model import Status, Verdict


@dataclass
class HttpCheck:
    """Requests ``url``; user:password in it is sent as Basic auth, never shown.

    The message of every result (the ``health.message`` attribute, the state-change
    log record, the ``/readyz`` body) names the URL without its credentials and
    with its query values hidden (``?token=***``), where tokens often travel.
    """

    spec: CheckSpec
    url: str
    expect_status: tuple[int, ...] = (200,)
    body_contains: str | None = None
    method: str = "GET"
    headers: dict[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self._in_flight = Sockets()
        self._target, self._shown, self._secrets, auth = _split_credentials(self.url)
        self._sent_headers = dict(self.headers)
        if auth is not None and not any(k.lower() == "authorization" for k in self.headers):
            self._sent_headers["Authorization"] = auth

    def run(self, previous: Status | None) -> Verdict:
        shown = self._shown
        self._in_flight = sockets = Sockets()
        try:
            request = urllib.request.Request(self._target, method=self.method, headers=self._sent_headers)
            opener = urllib.request.build_opener(
                _HeadersStayOnTheirHost(self._sent_headers),
                TrackedHTTPHandler(sockets),
                TrackedHTTPSHandler(sockets),
            )
            with opener.open(request, timeout=self.spec.timeout_s) as response:
                code, body = response.status, response.read(65536)
        except urllib.error.HTTPError as exc:
            if str(exc.msg).startswith(urllib.request.HTTPRedirectHandler.inf_msg):
                return Verdict(Status.FAILING, f"{shown} redirects in a loop (or more than 10 times)")
            code, body = exc.code, exc.read(65536)
        except (OSError, ValueError, http.client.HTTPException) as exc:
            return Verdict(Status.FAILING, f"{self.method} {shown} failed: {self._hide(reason_of(exc))}")
        if code not in self.expect_status:
            expected = ", ".join(str(c) for c in self.expect_status)
            return Verdict(Status.FAILING, f"{shown} answered {code}, expected {expected}")
        if self.body_contains is not None and self.body_contains not in body.decode("utf-8", "replace"):
            return Verdict(Status.FAILING, f"{shown} answered {code} without {self.body_contains!r}")
        return Verdict(Status.HEALTHY, f"{shown} answered {code}")

    def abandon(self) -> None:
        """Called by the scheduler at the timeout: end the run's connections.

        The socket timeout holds for each read only, so a server that drips its
        headers or body a byte at a time kept the worker thread for ever, and with
        it the check (every later run skipped as hung) after the server recovered.
        """
        self._in_flight.close()

    def _hide(self, text: str) -> str:
        for secret in self._secrets:
            text = text.replace(secret, "***")
        return text


def _split_credentials(url: str) -> tuple[str, str, list[str], str | None]:
    """(the URL to request, the URL to show, the texts never to show, a Basic auth header or None)."""
    parts = urllib.parse.urlsplit(url)
    netloc = parts.netloc.rpartition("@")[2]
    secrets = [s for s in (parts.password, parts.query) if s]
    auth = None
    if parts.username is not None or parts.password is not None:
        pair = f"{urllib.parse.unquote(parts.username or '')}:{urllib.parse.unquote(parts.password or '')}"
        auth = "Basic " + base64.b64encode(pair.encode()).decode("ascii")
    target = urllib.parse.urlunsplit(parts._replace(netloc=netloc))
    query = parts.query and "&".join(
        f"{key}=***" for key, _ in urllib.parse.parse_qsl(parts.query, keep_blank_values=True)
    )
    shown = urllib.parse.urlunsplit(parts._replace(netloc=netloc, query=query or "", fragment=""))
    if parts.query and not query:
        shown += "?***"
    return target, shown, secrets, auth


_DEFAULT_PORTS = {"http": 80, "https": 443}


def _origin(url: str) -> tuple[str, str, int | None]:
    parts = urllib.parse.urlsplit(url)
    scheme = parts.scheme.lower()
    return scheme, (parts.hostname or "").lower(), parts.port or _DEFAULT_PORTS.get(scheme)


class _HeadersStayOnTheirHost(urllib.request.HTTPRedirectHandler):
    """Follows redirects, without the check's own headers when one leads to another origin.

    urllib keeps every header across redirects, so ``Authorization: Bearer ...``
    would be sent to whatever host the checked service redirects to (a login page,
    a CDN). As curl and requests do, the headers go only where they were written
    for (the same host and port, or an upgrade from http to https on that host).
    """

    def __init__(self, headers: dict[str, str]) -> None:
        super().__init__()
        self._names = [name.capitalize() for name in headers]  # as urllib.request.Request stores them

    def redirect_request(
        self,
        req: urllib.request.Request,
        fp: Any,
        code: int,
        msg: str,
        headers: Any,
        newurl: str,
    ) -> urllib.request.Request | None:
        new = super().redirect_request(req, fp, code, msg, headers, newurl)
        if new is not None and not _same_origin(req.full_url, new.full_url):
            for name in self._names:
                new.remove_header(name)
        return new


def _same_origin(old: str, new: str) -> bool:
    (old_scheme, old_host, old_port), (new_scheme, new_host, new_port) = _origin(old), _origin(new)
    if old_host != new_host:
        return False
    if (old_scheme, new_scheme) == ("http", "https"):
        return (old_port, new_port) == (80, 443) or old_port == new_port
    return (old_scheme, old_port) == (new_scheme, new_port)
