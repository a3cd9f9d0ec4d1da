"""Progress for `stack install`: one rewritten line on a terminal, plain lines in logs.

Downloads report bytes, builds report their step and elapsed time. Off a
terminal (CI logs, pipes) nothing is rewritten: a line when something starts,
one when it ends, and a "still working" line once a minute for long builds.
"""

from __future__ import annotations

import sys
import time
from typing import TextIO

_PLAIN_EVERY = 60.0  # seconds between "still working" lines off a terminal


class Progress:
    def __init__(self, stream: TextIO | None = None, tty: bool | None = None) -> None:
        self.stream = stream or sys.stdout
        self.tty = self.stream.isatty() if tty is None else tty
        self._status_width = 0
        self._last_plain = 0.0
        self._last_draw = 0.0

    def line(self, text: str) -> None:
        """A permanent line (clears a status line first)."""
        self._clear()
        print(text, file=self.stream, flush=True)
        self._last_plain = time.monotonic()

    def status(self, text: str, plain: str | None = None) -> None:
        """A transient state: redrawn in place on a terminal (at most 10 times a second);
        off one, ``plain`` (if given) is printed at most once a minute."""
        now = time.monotonic()
        if self.tty:
            if now - self._last_draw < 0.1:
                return
            self._last_draw = now
            padded = text.ljust(self._status_width)
            self.stream.write("\r" + padded)
            self.stream.flush()
            self._status_width = len(text)
        elif plain is not None and now - self._last_plain >= _PLAIN_EVERY:
            self.line(plain)

    def _clear(self) -> None:
        if self.tty and self._status_width:
            self.stream.write("\r" + " " * self._status_width + "\r")
            self.stream.flush()
            self._status_width = 0
            self._last_draw = 0.0


def megabytes(size: int) -> str:
    return f"{size / 1e6:.1f} MB"
