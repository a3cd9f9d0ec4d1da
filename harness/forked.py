"""Ask a question in a forked child: what a fork-safety test needs, without repeating the pipe dance."""

from __future__ import annotations

import os
from collections.abc import Callable


def in_forked_child(check: Callable[[], bool]) -> bool:
    """Fork, run ``check`` in the child, and return its answer; an exception there answers False.

    The child leaves with ``os._exit``, so nothing of the parent's (atexit handlers, the SDK's
    shutdown, pytest) runs twice.
    """
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:
        try:
            os.close(read)
            try:
                ok = bool(check())
            except BaseException:
                ok = False
            os.write(write, b"1" if ok else b"0")
        finally:
            os._exit(0)
    os.close(write)
    answer = os.read(read, 1)
    os.close(read)
    os.waitpid(pid, 0)
    return answer == b"1"
