"""urllib handlers that remember the sockets a request opened, so a run can be cut off.

A socket timeout bounds each read, not the whole answer: a server that sends a
byte now and then keeps ``urlopen`` reading for ever. The scheduler abandons
such a run at its timeout; shutting its sockets down lets the worker end too.
"""

from __future__ import annotations

import contextlib
import http.client
import socket
import threading
import urllib.request
from typing import Any


class Sockets:
    """The sockets one run opened, so that abandoning the run can shut them down."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._open: list[socket.socket] = []
        self._closed = False

    def add(self, sock: socket.socket) -> None:
        with self._lock:
            if not self._closed:
                self._open.append(sock)
                return
        sock.close()
        raise TimeoutError("the check was abandoned at its timeout")

    def close(self) -> None:
        with self._lock:
            self._closed, sockets = True, list(self._open)
        for sock in sockets:
            with contextlib.suppress(OSError):  # already closed by the worker
                sock.shutdown(socket.SHUT_RDWR)  # wakes the worker blocked in recv; it closes


class _TrackedHTTPConnection(http.client.HTTPConnection):
    sockets: Sockets

    def connect(self) -> None:
        super().connect()
        self.sockets.add(self.sock)


class _TrackedHTTPSConnection(http.client.HTTPSConnection):
    sockets: Sockets

    def connect(self) -> None:
        super().connect()
        self.sockets.add(self.sock)


class TrackedHTTPHandler(urllib.request.HTTPHandler):
    def __init__(self, sockets: Sockets) -> None:
        super().__init__()
        self._sockets = sockets

    def http_open(self, req: urllib.request.Request) -> http.client.HTTPResponse:
        return self.do_open(self._connection, req)

    def _connection(self, host: str, **kwargs: Any) -> http.client.HTTPConnection:
        connection = _TrackedHTTPConnection(host, **kwargs)
        connection.sockets = self._sockets
        return connection


class TrackedHTTPSHandler(urllib.request.HTTPSHandler):
    def __init__(self, sockets: Sockets) -> None:
        super().__init__()
        self._sockets = sockets

    def https_open(self, req: urllib.request.Request) -> http.client.HTTPResponse:
        return self.do_open(self._connection, req)

    def _connection(self, host: str, **kwargs: Any) -> http.client.HTTPSConnection:
        connection = _TrackedHTTPSConnection(host, **kwargs)
        connection.sockets = self._sockets
        return connection
