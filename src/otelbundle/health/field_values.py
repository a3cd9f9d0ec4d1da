"""The values of a health check's fields: each parser raises ValueError with a message, and
:class:`Getter` adds the file:line:column it was written at (a problem, not an exception)."""

from __future__ import annotations

import unicodedata
from collections.abc import Callable
from typing import Any

from otelbundle.config import ConfigProblem, Problems, YamlMap, parse_duration


class Getter:
    """``get.value(key, parse, default)`` on one mapping, collecting into the shared :class:`Problems`."""

    def __init__(self, mapping: YamlMap, problems: list[ConfigProblem]) -> None:
        self.mapping, self.problems = mapping, Problems(problems)

    def value(self, key: str, parse: Callable[[Any], Any], default: Any, *, required: bool = False) -> Any:
        return self.problems.value(self.mapping, key, parse, default, required=required)


def text_value(value: Any) -> str:
    if not isinstance(value, (str, int, float)) or isinstance(value, bool) or str(value) == "":
        raise ValueError(f"expected a non-empty string, got {value!r}")
    return str(value)


_UNPRINTABLE = {
    "Cc": "a control character",
    "Cf": "an invisible formatting character",
    "Cs": "a lone surrogate",
    "Zl": "a line separator",
    "Zp": "a paragraph separator",
}


def check_name(value: Any) -> str:
    """A name printed as written: it goes into log lines (stderr too), span names, thread names
    and metric labels, where a newline forges a second line, ESC colours a terminal and a lone
    surrogate cannot be encoded. Refused at load, so no output has to escape it."""
    text = text_value(value)
    for char in text:
        what = _UNPRINTABLE.get(unicodedata.category(char))
        if what is not None:
            raise ValueError(
                f"{text!r} holds {what} (U+{ord(char):04X}); a check's name is printed in log lines, "
                "span names and metric labels: use printable characters on one line"
            )
    return text


def flag(value: Any) -> bool:
    if not isinstance(value, bool):
        raise ValueError(f"expected true or false, got {value!r}")
    return value


def port_number(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 0 < value < 65536:
        raise ValueError(f"expected a port number 1..65535, got {value!r}")
    return value


def host_name(value: Any) -> str:
    """A host name or address alone. ``http://db`` and ``db:5432`` (a URL, a port in the host)
    passed the load and failed every run as ``Name or service not known``, naming no field.
    IPv6 addresses (``::1``: two colons or more) are hosts."""
    text = text_value(value)
    if "://" in text or "/" in text:
        raise ValueError(
            f"{text!r} is a URL; write the host name or address alone (db.internal, 10.0.0.5), "
            "its port in port:"
        )
    name, colon, port = text.rpartition(":")
    if colon and ":" not in name and port.isdigit():
        raise ValueError(f"{text!r} holds a port; write the host alone and the port in port:")
    return text


# The shortest interval between two runs of a check. Each run probes its target (a database,
# a port, a URL): `interval: 1ms`, a slip for 1s, was accepted and opened a thousand
# connections a second to the database it watched. Kubernetes' probes run at most once a second.
MIN_INTERVAL_S = 0.1


def interval_value(value: Any) -> float:
    seconds = parse_duration(value)
    if seconds < MIN_INTERVAL_S:
        raise ValueError(
            f"{value!r} is shorter than 100ms, the shortest interval between two runs of a check "
            "(each run probes its target)"
        )
    return seconds


def http_url(value: Any) -> str:
    text = text_value(value)
    if not text.startswith(("http://", "https://")):
        raise ValueError(f"expected an http:// or https:// URL, got {text!r}")
    return text


def status_codes(value: Any) -> tuple[int, ...]:
    items = value if isinstance(value, list) else [value]
    if not items or not all(
        isinstance(c, int) and not isinstance(c, bool) and 100 <= c <= 599 for c in items
    ):
        raise ValueError(f"expected an HTTP status or a list of them, got {value!r}")
    return tuple(items)


def header_map(value: Any) -> dict[str, str]:
    if not isinstance(value, dict):
        raise ValueError("expected a mapping of header names to values")
    return {str(k): str(v) for k, v in value.items()}


def one_of(options: tuple[str, ...]) -> Callable[[Any], str]:
    def parse(value: Any) -> str:
        if value not in options:
            raise ValueError(f"{value!r} is not one of {', '.join(options)}")
        return str(value)

    return parse
