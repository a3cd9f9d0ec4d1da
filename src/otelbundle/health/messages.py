"""A check's message as it may leave the process: scrubbed, then cut.

A message is served by ``/readyz``, logged (stderr and OTLP), put on the ``health <name>``
span the alert rules read, and printed by ``otelbundle health run``. A ``python`` check's
message is whatever the user's code returned or raised (``ConnectionError("postgresql://
app:s3cret@db/x unreachable")``), so it goes through the exporters' scrubbing rules once,
where the result is made, and every output gets the clean text.
"""

from __future__ import annotations

import threading
from collections.abc import Callable

from otelbundle.scrub import FAILED_MARKER, Scrubber, current_hook

MAX_MESSAGE_CHARS = 1000
# Only this much of a message is scrubbed (a python check may return a whole dump): wide
# enough that a secret the window cuts in half never reaches the MAX_MESSAGE_CHARS shown.
SCRUB_WINDOW_CHARS = 64 * MAX_MESSAGE_CHARS
# The attribute the message is on (the span's ``health.message``): scrub.allowed_keys and a
# scrub hook see it under this name.
MESSAGE_KEY = "health.message"

MessageScrub = Callable[[str], str]

_builtin: MessageScrub | None = None
_builtin_lock = threading.Lock()


def scrubber_scrub(scrubber: Scrubber) -> MessageScrub:
    """``scrubber``'s rules as they apply to the ``health.message`` attribute."""

    def scrub(message: str) -> str:
        return scrubber.text(message, MESSAGE_KEY)

    return scrub


def builtin_scrub() -> MessageScrub:
    """The built-in rules (and the scrub hook): for a scheduler not given the process's
    scrubber (``otelbundle health run``, tests). Compiled once per process."""
    global _builtin
    with _builtin_lock:
        if _builtin is None:
            _builtin = scrubber_scrub(Scrubber(hook=current_hook()))
        return _builtin


def clean_message(message: str, scrub: MessageScrub) -> str:
    """``message`` scrubbed and cut to MAX_MESSAGE_CHARS; never raises (a failing scrub hides it)."""
    head = message[:SCRUB_WINDOW_CHARS]
    dropped = len(message) - len(head)  # never scrubbed, so never shown
    try:
        text = scrub(head)
    except Exception:
        return FAILED_MARKER
    if len(text) > MAX_MESSAGE_CHARS:
        dropped += len(text) - MAX_MESSAGE_CHARS
        text = text[:MAX_MESSAGE_CHARS]
    return f"{text}… ({dropped} more characters cut)" if dropped else text


def bounded(message: str) -> str:
    """At most MAX_MESSAGE_CHARS (for messages of our own, which need no scrubbing)."""
    if len(message) <= MAX_MESSAGE_CHARS:
        return message
    cut = len(message) - MAX_MESSAGE_CHARS
    return f"{message[:MAX_MESSAGE_CHARS]}… ({cut} more characters cut)"
