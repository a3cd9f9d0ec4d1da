"""Text from spans and logs made fit for a notification: valid UTF-8, no terminal control codes.

A Python ``str`` may hold lone surrogates (a file name decoded with ``surrogateescape``,
logged with ``%s``): UTF-8 cannot encode them, so an email holding one failed to be built
(every retry too) and a JSON body carried ``\\udcff``, which strict parsers refuse. Colour
codes (``ESC[31m``) and other C0/C1 controls show as garbage in Slack, mail and terminals, and
a NUL is refused by some mail servers. Line breaks and tabs stay; ``\\r\\n`` and ``\\r`` become
``\\n``.
"""

from __future__ import annotations

import re

REPLACEMENT = "\ufffd"
_SURROGATE = re.compile("[\ud800-\udfff]")
_ANSI = re.compile(r"\x1b\[[0-?]*[ -/]*[@-~]|\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)|\x1b[@-Z\\-_]")
_CONTROL = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f]")
_SUSPECT = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\ud800-\udfff]")


def valid_utf8(text: str) -> str:
    """``text`` with each lone surrogate replaced by U+FFFD, as a UTF-8 decoder shows bad bytes."""
    return _SURROGATE.sub(REPLACEMENT, text)


def printable(text: str) -> str:
    """``text`` fit for any channel: valid UTF-8, colour codes and control characters removed,
    line breaks and tabs kept (``\\r`` read as a line break)."""
    if _SUSPECT.search(text) is None:  # nearly always: one scan, no copy
        return text
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    return _CONTROL.sub("", _ANSI.sub("", valid_utf8(text)))
