"""At exit, a collector that is not there is not waited for.

The OTLP/HTTP exporters retry a connection error with backoff (1 s, 2 s, ...)
until their timeout. While the app runs that is right: the export thread waits,
not the app. During the exit flush it made every process that ran without a
collector (a script, a test run, a cron job, a recycled worker) wait the whole
``OTELBUNDLE_SHUTDOWN_TIMEOUT`` (5 s) before exiting, for a collector that a
refused connection says is not listening. So once the exit flush has begun, our
``requests`` session (http_session.py) turns a connection refused, or a host
name that does not resolve, into :class:`CollectorNotThere`: a request error the
exporters do not retry. What could not be sent is counted and said in the exit
summary as before. A collector whose host drops the connection attempt (a
firewall, a node gone) is given :data:`EXIT_CONNECT_TIMEOUT_S` to answer it, then
treated the same. A collector that accepts the connection but answers slowly,
or a 503, is still waited for within the deadline: that one may yet answer.
The alert notifiers apply the same rule to their channels at exit (:func:`unreachable`).
"""

from __future__ import annotations

import errno
import socket
import threading

import requests

_started = threading.Event()

# A collector answers a TCP connection in milliseconds (a TLS handshake on another
# continent in a few hundred): one that has not answered in 1 s during the exit
# flush is dropping the attempt, and would take the whole deadline to say so.
EXIT_CONNECT_TIMEOUT_S = 1.0


class CollectorNotThere(requests.exceptions.RequestException):
    """Not a ``ConnectionError``: the exporters retry those, and this is final."""


def begin() -> None:
    """The exit flush has begun (Runtime.shutdown)."""
    _started.set()


def after_fork_in_child() -> None:
    """A child forked during its parent's exit flush runs on; its own exit is its own."""
    _started.clear()


def connect_bound(timeout: object) -> object:
    """The ``timeout`` a request gets: during the exit flush, its connect phase bounded by
    EXIT_CONNECT_TIMEOUT_S (``requests`` takes a (connect, read) pair); unchanged otherwise."""
    if not _started.is_set() or not (timeout is None or isinstance(timeout, (int, float))):
        return timeout
    connect = EXIT_CONNECT_TIMEOUT_S if timeout is None else min(float(timeout), EXIT_CONNECT_TIMEOUT_S)
    return (connect, timeout)


def final(error: requests.exceptions.ConnectionError, url: object) -> CollectorNotThere | None:
    """``error`` as the final answer of the exit flush, or None when it is not one (or not now)."""
    if not _started.is_set():
        return None
    if isinstance(error, requests.exceptions.ConnectTimeout):
        why: str | None = f"connection not answered within {EXIT_CONNECT_TIMEOUT_S:g} s"
    else:
        why = unreachable(error)
    if why is None:
        return None
    return CollectorNotThere(f"{why} at {url}; not retried during the exit flush")


def unreachable(error: BaseException) -> str | None:
    """'connection refused' or 'host name not found' when a cause of ``error`` says so: nothing
    listens there now, so waiting for it within an exit deadline is waiting in vain."""
    seen: set[int] = set()
    causes: list[BaseException] = [error]
    while causes:
        cause = causes.pop()
        if id(cause) in seen:
            continue
        seen.add(id(cause))
        if isinstance(cause, ConnectionRefusedError) or getattr(cause, "errno", None) == errno.ECONNREFUSED:
            return "connection refused"
        if isinstance(cause, socket.gaierror) and cause.errno == socket.EAI_NONAME:
            return "host name not found"
        # requests keeps urllib3's MaxRetryError as args[0], urllib3 the socket's error as .reason.
        linked = (getattr(cause, "reason", None), *cause.args[:1], cause.__cause__, cause.__context__)
        causes.extend(c for c in linked if isinstance(c, BaseException))
    return None
