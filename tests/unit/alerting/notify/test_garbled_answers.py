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


@pytest.mark.parametrize("status", [b"200 OK", b"503 Service Unavailable"])
def test_a_body_that_does_not_end_is_not_read_into_memory(status: bytes) -> None:
    """A 2xx answer was read to its end: a URL streaming a large body (a download pasted as the
    webhook) took 400 MB of the app's memory for one notification. The server writes until the
    client hangs up; what it wrote beyond the socket buffers is what the client read."""
    limit = 256 * 1024 * 1024
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(1)
    written = [0]

    def serve() -> None:
        client, _ = server.accept()
        with client:
            client.recv(65536)
            client.sendall(b"HTTP/1.1 " + status + b"\r\nContent-Length: %d\r\n\r\n" % limit)
            chunk = b"x" * 65536
            try:
                while written[0] < limit:
                    client.sendall(chunk)
                    written[0] += len(chunk)
            except OSError:  # the client closed the connection: it read no more
                pass

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        post_json(f"http://127.0.0.1:{server.getsockname()[1]}/hook", {"a": 1}, timeout=30)
    except RetryableError as exc:
        assert status.startswith(b"503") and str(exc).startswith("HTTP 503")
    thread.join(60)
    server.close()
    assert not thread.is_alive()
    assert written[0] < 64 * 1024 * 1024  # socket buffers hold a few MB; the client read 64 KiB
