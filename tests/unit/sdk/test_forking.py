"""The fork registry: hooks run in a real fork child, in order, isolated, replaceable by name."""

from __future__ import annotations

import os

from otelbundle.sdk import forking


def _in_child() -> str:
    """Fork; the child writes which hooks ran and exits."""
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:
        os.close(read)
        os.write(write, ",".join(_ran).encode())
        os._exit(0)
    os.close(write)
    seen = os.read(read, 1000).decode()
    os.close(read)
    os.waitpid(pid, 0)
    return seen


_ran: list[str] = []


def test_hooks_run_in_the_child_only_in_order_and_a_failing_one_does_not_stop_the_rest() -> None:
    _ran.clear()

    def boom() -> None:
        raise RuntimeError("boom")

    forking.on_child("test-a", lambda: _ran.append("a"))
    forking.on_child("test-boom", boom)
    forking.on_child("test-b", lambda: _ran.append("b"))
    forking.on_child("test-a", lambda: _ran.append("a2"))  # same name: replaced, keeps its place
    try:
        assert _in_child() == "a2,b"
        assert _ran == [], "nothing runs in the parent"
        forking.remove("test-b")
        assert _in_child() == "a2"
    finally:
        for name in ("test-a", "test-boom", "test-b"):
            forking.remove(name)
    assert not {"test-a", "test-boom", "test-b"} & set(forking.registered())
