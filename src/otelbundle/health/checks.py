"""The check kinds. Each is a small object whose ``run`` returns a :class:`Verdict`.

``run`` may block (network, database, user code): the scheduler always calls it
on a worker thread and abandons it at its timeout, so checks do not need their
own watchdogs — but they pass the timeout to sockets and drivers where they can,
so that an abandoned worker thread ends soon after. A check may also have an
``abandon()`` the scheduler calls at the timeout (HTTP shuts its sockets down:
a per-read timeout does not bound a server that drips bytes).
"""

from __future__ import annotations

import base64
import http.client
import importlib
import inspect
import re
import socket
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

from otelbundle.health.http_connections import Sockets, TrackedHTTPHandler, TrackedHTTPSHandler
from otelbundle.health.model import Status, Thresholds, Verdict


@dataclass
class CheckSpec:
    """Scheduling options common to every kind."""

    name: str
    kind: str
    interval_s: float
    timeout_s: float
    readiness: bool = True
    attributes: dict[str, Any] = field(default_factory=dict)


class Check(Protocol):
    """``run`` on a worker thread; optionally ``prepare()`` on the thread that starts the
    scheduler (imports: see :meth:`SqlCheck.prepare`) and ``abandon()`` at the timeout."""

    spec: CheckSpec

    def run(self, previous: Status | None) -> Verdict: ...


# ---- system -------------------------------------------------------------


class SystemReader(Protocol):
    """Where system checks get their percentages; tests inject a fake."""

    def cpu_percent(self) -> float: ...
    def memory_percent(self) -> float: ...
    def disk_percent(self, path: str) -> float: ...


class PsutilReader:
    """The real reader. ``cpu_percent`` is utilisation since the previous call (non-blocking)."""

    def __init__(self) -> None:
        import psutil

        self._psutil = psutil
        psutil.cpu_percent(interval=None)  # the first call only sets the baseline

    def cpu_percent(self) -> float:
        return float(self._psutil.cpu_percent(interval=None))

    def memory_percent(self) -> float:
        return float(self._psutil.virtual_memory().percent)

    def disk_percent(self, path: str) -> float:
        return float(self._psutil.disk_usage(path).percent)


SYSTEM_RESOURCES = ("cpu", "memory", "disk")


@dataclass
class SystemCheck:
    spec: CheckSpec
    resource: str
    thresholds: Thresholds
    path: str = "/"
    reader: SystemReader | None = None

    def prepare(self) -> None:
        """Import psutil (and set the CPU baseline) now, not on a worker thread: see SqlCheck.prepare."""
        if self.reader is None:
            self.reader = PsutilReader()

    def run(self, previous: Status | None) -> Verdict:
        if self.reader is None:
            self.reader = PsutilReader()
        if self.resource == "cpu":
            value, what = self.reader.cpu_percent(), "CPU"
        elif self.resource == "memory":
            value, what = self.reader.memory_percent(), "memory"
        else:
            value, what = self.reader.disk_percent(self.path), f"disk {self.path}"
        status = self.thresholds.classify(value, previous)
        return Verdict(status, f"{what} at {value:.1f}%{self._against(status)}", value)

    def _against(self, status: Status) -> str:
        if status is Status.FAILING:
            return f" (critical at {self.thresholds.critical:g}%)"
        if status is Status.DEGRADED:
            return f" (warning at {self.thresholds.warning:g}%)"
        return ""


# ---- tcp / http -----------------------------------------------------------


@dataclass
class TcpCheck:
    spec: CheckSpec
    host: str
    port: int

    def run(self, previous: Status | None) -> Verdict:
        try:
            with socket.create_connection((self.host, self.port), timeout=self.spec.timeout_s):
                pass
        except OSError as exc:
            return Verdict(Status.FAILING, f"cannot connect to {self.host}:{self.port}: {_reason(exc)}")
        return Verdict(Status.HEALTHY, f"connected to {self.host}:{self.port}")


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
            return Verdict(Status.FAILING, f"{self.method} {shown} failed: {self._hide(_reason(exc))}")
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


# ---- sql ------------------------------------------------------------------

SQL_DRIVERS = ("sqlite3", "postgresql")


def postgres_driver() -> Any | None:
    """psycopg (3) or psycopg2, whichever is installed."""
    for name in ("psycopg", "psycopg2"):
        try:
            return importlib.import_module(name)
        except ImportError:
            continue
    return None


@dataclass
class SqlCheck:
    """Opens a connection, runs one cheap query, closes: no pool held between runs."""

    spec: CheckSpec
    driver: str
    dsn: str
    query: str = "SELECT 1"

    def prepare(self) -> None:
        """Import the driver on the thread that starts the checks, before the app can fork.

        CPython does not reset its per-module import locks in a forked child: a gunicorn
        ``--preload`` master forking while a health worker imported psycopg (79 modules, on
        the first run) left that lock held for ever in the worker, hanging its check and
        the app's own ``import psycopg`` (docs/fork-servers.md).
        """
        if self.driver == "sqlite3":
            importlib.import_module("sqlite3")
        else:
            postgres_driver()

    def run(self, previous: Status | None) -> Verdict:
        deadline = time.monotonic() + self.spec.timeout_s
        try:
            connection = self._connect(deadline)
        except Exception as exc:  # every DB-API driver has its own error hierarchy
            return Verdict(Status.FAILING, f"cannot connect ({self.driver}): {self._hide(_reason(exc))}")
        try:
            cursor = connection.cursor()
            if self.driver == "postgresql":
                # The server ends a query still running at the check's timeout (a lock wait,
                # pg_sleep): else the worker waited for ever and every later run was skipped.
                remaining_ms = max(1, int((deadline - time.monotonic()) * 1000))
                cursor.execute(f"SET statement_timeout = {remaining_ms}")
            cursor.execute(self.query)
            cursor.fetchall()
        except Exception as exc:
            return Verdict(Status.FAILING, f"query failed ({self.driver}): {self._hide(_reason(exc))}")
        finally:
            connection.close()
        return Verdict(Status.HEALTHY, f"{self.driver} answered {self.query!r}")

    def _connect(self, deadline: float) -> Any:
        if self.driver == "sqlite3":
            import sqlite3

            # mode=rw: a missing database file is a failure, not a new empty database.
            target = self.dsn if self.dsn.startswith("file:") else f"file:{self.dsn}?mode=rw"
            connection = sqlite3.connect(
                target, uri=True, timeout=self.spec.timeout_s, check_same_thread=False
            )
            # A query still running at the timeout is interrupted ("interrupted"), as
            # PostgreSQL's statement_timeout does, so the worker thread ends with it.
            connection.set_progress_handler(lambda: time.monotonic() > deadline, 10_000)
            return connection
        module = postgres_driver()
        if module is None:
            raise RuntimeError("no PostgreSQL driver installed (pip install psycopg)")
        timeout = max(1, int(self.spec.timeout_s))
        return module.connect(self.dsn, connect_timeout=timeout)

    def _hide(self, text: str) -> str:
        """libpq quotes a DSN it cannot parse, password and all: never in a message."""
        for secret in dsn_passwords(self.dsn):
            text = text.replace(secret, "***")
        return text


_USERINFO = re.compile(r"//[^:/@\s]*:([^@\s]+)@")
_PASSWORD_KEY = re.compile(r"\bpassword\s*=\s*('(?:[^'\\]|\\.)*'|\S+)")


def dsn_passwords(dsn: str) -> list[str]:
    """The password(s) written in a libpq DSN, as written and URL-decoded."""
    found = _USERINFO.findall(dsn) + _PASSWORD_KEY.findall(dsn)
    found += [urllib.parse.unquote(p) for p in found] + [p.strip("'") for p in found]
    return sorted({p for p in found if p}, key=len, reverse=True)


# ---- python ---------------------------------------------------------------


@dataclass
class PythonCheck:
    """Calls ``module:function``. It may return a Status, a status word, a bool,
    ``(status, message)``, or raise (→ failing with the exception as message)."""

    spec: CheckSpec
    target: str
    where: str = ""
    _function: Callable[[], Any] | None = None

    def run(self, previous: Status | None) -> Verdict:
        function = self._resolve()
        return to_verdict(function())

    def _resolve(self) -> Callable[[], Any]:
        if self._function is None:
            module_name, _, attr = self.target.partition(":")
            module = importlib.import_module(module_name)
            function = getattr(module, attr, None)
            if not callable(function):
                raise LookupError(f"{self.target}: module has no callable {attr!r} ({self.where})")
            self._function = function
        return self._function


def to_verdict(returned: Any) -> Verdict:
    message = ""
    if isinstance(returned, tuple) and len(returned) == 2:
        returned, message = returned[0], str(returned[1])
    if isinstance(returned, Status):
        status = returned
    elif isinstance(returned, bool) or returned is None:
        status = Status.HEALTHY if returned in (True, None) else Status.FAILING
    elif isinstance(returned, str):
        status = Status.parse(returned)
    elif inspect.iscoroutine(returned):
        returned.close()  # never awaited: without close() Python warns on the app's stderr
        raise TypeError("check is an async function; use a plain function that returns a status")
    else:
        raise TypeError(
            f"check returned {type(returned).__name__}; expected a status, bool or (status, message)"
        )
    return Verdict(status, message or status.label)


def _reason(exc: BaseException) -> str:
    if isinstance(exc, urllib.error.URLError) and not isinstance(exc, urllib.error.HTTPError):
        return _reason(exc.reason) if isinstance(exc.reason, BaseException) else str(exc.reason)
    text = str(exc) or type(exc).__name__
    return text.strip().splitlines()[0] if text.strip() else type(exc).__name__
