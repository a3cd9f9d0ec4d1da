"""Answers cut or garbled on the wire: a 5xx is still retried, a 2xx is still sent, nothing escapes.

A 503 whose body was cut short raised the socket's error out of ``post_json`` from the
error handler, so the dispatcher logged an "unexpected error" and never retried it; a
status line that is not HTTP did the same (http.client's exceptions are not OSErrors).
"""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator

import pytest

from otelbundle.alerting.notify.base import PermanentError, RetryableError, post_json


@pytest.fixture
def answers() -> Iterator[tuple[str, list[bytes]]]:
    """A server on loopback that sends each queued raw answer once, then closes the connection."""
    queued: list[bytes] = []
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(5)

    def serve() -> None:
        while True:
            try:
                client, _ = server.accept()
            except OSError:
                return
            with client:
                client.recv(65536)
                client.sendall(queued.pop(0))

    threading.Thread(target=serve, daemon=True).start()
    yield f"http://127.0.0.1:{server.getsockname()[1]}/hook", queued
    server.close()


@pytest.mark.parametrize(
    "answer",
    [
        b"HTTP/1.1 503 Service Unavailable\r\nContent-Length: 100\r\n\r\nbusy",  # body cut short
        b"HTTP/1.1 502 Bad Gateway\r\nContent-Length: 100\r\n\r\n",
        b"garbage\r\n\r\n",  # not HTTP at all
    ],
)
def test_a_garbled_failure_is_retryable(answers: tuple[str, list[bytes]], answer: bytes) -> None:
    url, queued = answers
    queued.append(answer)
    with pytest.raises(RetryableError):
        post_json(url, {"a": 1}, timeout=2)


def test_a_refusal_with_a_cut_body_is_still_a_refusal(answers: tuple[str, list[bytes]]) -> None:
    url, queued = answers
    queued.append(b"HTTP/1.1 400 Bad Request\r\nContent-Length: 100\r\n\r\ninvalid")
    with pytest.raises(PermanentError, match="HTTP 400"):
        post_json(url, {"a": 1}, timeout=2)


def test_a_2xx_with_a_cut_body_was_delivered(answers: tuple[str, list[bytes]]) -> None:
    """Retrying it would notify twice: the receiver took the alert before its answer broke."""
    url, queued = answers
    queued.append(b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nok")
    post_json(url, {"a": 1}, timeout=2)
