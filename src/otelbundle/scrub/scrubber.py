"""Applies the rules to attribute values, names and log bodies; never raises.

A value the rules (or the user's hook) fail on is replaced by
:data:`FAILED_MARKER` and counted: failing closed, because an unscrubbed
value is exactly what this exists to prevent.
"""

from __future__ import annotations

import contextlib
import re
import threading
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from otelbundle.scrub.rules import (
    DB_STATEMENT_KEYS,
    KEY_MASK,
    KEY_PATTERNS,
    MARKER,
    PARAM_NAMES,
    RULES,
    SQL_SYSTEMS,
    param_names_pattern,
)

FAILED_MARKER = "REDACTED (scrubbing failed)"

# hook(where, value) -> value: ``where`` is the attribute key, or one of
# "span.name", "span.status.message", "log.body".
Hook = Callable[[str, str], str]

# SQL literals recorded unparameterised. Python-only (the collector uses its
# redaction processor's SQL obfuscator for the same attributes).
_SQL_STRING = re.compile(r"'(?:[^']|'')*'")
_SQL_NUMBER = re.compile(r"(?<![\w$:@?.])(?:0x[0-9a-fA-F]+|\d+(?:\.\d+)?(?:[eE][-+]?\d+)?)(?!\w)", re.ASCII)
_KEY_CACHE_LIMIT = 4096


def scrub_sql(statement: str) -> str:
    """String and numeric literals become ``?``; placeholders ($1, :name, %s, ?) and identifiers stay."""
    return _SQL_NUMBER.sub("?", _SQL_STRING.sub("?", statement))


@dataclass
class ScrubStats:
    """How often scrubbing failed: values replaced by the marker, records not exported."""

    failed_values: int = 0
    dropped_records: int = 0


@dataclass
class Scrubber:
    """The compiled rules plus the user's additions. Thread-safe; shared by the span and log exporters."""

    extra_patterns: Sequence[str] = ()
    extra_param_names: Sequence[str] = ()
    allowed_keys: Iterable[str] = ()
    hook: Hook | None = None
    on_failure: Callable[[str], None] | None = None
    stats: ScrubStats = field(default_factory=ScrubStats)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)
    _summarised: bool = field(default=False, repr=False)

    def __post_init__(self) -> None:
        patterns = [
            param_names_pattern([*PARAM_NAMES, *self.extra_param_names])
            if rule.name == "query-credentials" and self.extra_param_names
            else rule.pattern
            for rule in RULES
        ]
        self._rules = tuple(
            (re.compile(p, re.ASCII), rule.python_replacement)
            for p, rule in zip(patterns, RULES, strict=True)
        )
        # One search decides whether a value needs the built-in rules at all (most do not).
        self._any = re.compile(_union(patterns), re.ASCII)
        extras = [re.compile(p) for p in self.extra_patterns]
        self._extra = tuple((p, f"\\g<1>{MARKER}" if p.groups else MARKER) for p in extras)
        self._keys = re.compile(_union(KEY_PATTERNS))
        self._allowed = frozenset(self.allowed_keys)
        self._masked_keys: dict[str, bool] = {}

    # ---- values --------------------------------------------------------
    def text(self, value: str, where: str = "") -> str:
        """``value`` with every rule applied (and the hook); the marker if that fails."""
        try:
            if self._any.search(value):
                for pattern, replacement in self._rules:
                    value = pattern.sub(replacement, value)
            for pattern, replacement in self._extra:
                value = pattern.sub(replacement, value)
            if self.hook is not None:
                value = str(self.hook(where, value))
            return value
        except Exception as exc:
            self._failed(f"{where or 'a value'}: {type(exc).__name__}: {exc}")
            return FAILED_MARKER

    def key_is_masked(self, key: str) -> bool:
        verdict = self._masked_keys.get(key)
        if verdict is None:
            verdict = self._keys.match(key) is not None
            if len(self._masked_keys) < _KEY_CACHE_LIMIT:
                self._masked_keys[key] = verdict
        return verdict

    def value(self, key: str, value: Any) -> Any:
        """One attribute value (str, sequence of str, or other) under its key."""
        if key in self._allowed:
            return value
        if self.key_is_masked(key):
            return KEY_MASK
        if isinstance(value, str):
            return self.text(value, key)
        if isinstance(value, (tuple, list)) and any(isinstance(v, str) for v in value):
            return tuple(self.text(v, key) if isinstance(v, str) else v for v in value)
        return value

    def attributes(self, attributes: Mapping[str, Any] | None) -> dict[str, Any] | None:
        """A scrubbed copy, or None when nothing changed (the caller keeps the original)."""
        if not attributes:
            return None
        changed: dict[str, Any] | None = None
        sql = _is_sql(attributes)
        for key, original in attributes.items():
            value = original
            if sql and key in DB_STATEMENT_KEYS and isinstance(value, str) and key not in self._allowed:
                value = self._sql(value, key)
            value = self.value(key, value)
            if value is not original and value != original:
                if changed is None:
                    changed = dict(attributes)
                changed[key] = value
        return changed

    def body(self, body: Any, where: str = "log.body") -> Any:
        """A log body: a string, or mappings/sequences of them (structured logs)."""
        if isinstance(body, str):
            return self.text(body, where)
        if isinstance(body, Mapping):
            return {
                k: (KEY_MASK if isinstance(k, str) and self.key_is_masked(k) else self.body(v, where))
                for k, v in body.items()
            }
        if isinstance(body, (list, tuple)):
            return type(body)(self.body(v, where) for v in body)
        return body

    def sql_name(self, name: str, attributes: Mapping[str, Any] | None) -> str:
        """A span name that is the SQL statement itself loses its literals too."""
        return self._sql(name, "span.name") if attributes and _is_sql(attributes) else name

    # ---- failures --------------------------------------------------------
    def summary(self) -> str | None:
        """One line at exit when anything failed (once per process), else None."""
        with self._lock:
            stats = self.stats
            if self._summarised or not (stats.failed_values or stats.dropped_records):
                return None
            self._summarised = True
            return (
                f"otelbundle: scrubbing failed for {stats.failed_values} values (replaced by {FAILED_MARKER!r}) "
                f"and {stats.dropped_records} records (not exported)."
            )

    def record_dropped(self, what: str) -> None:
        with self._lock:
            self.stats.dropped_records += 1
        self._report(what)

    def _sql(self, statement: str, where: str) -> str:
        try:
            return scrub_sql(statement)
        except Exception as exc:
            self._failed(f"{where}: {type(exc).__name__}: {exc}")
            return FAILED_MARKER

    def _failed(self, what: str) -> None:
        with self._lock:
            self.stats.failed_values += 1
        self._report(what)

    def _report(self, what: str) -> None:
        if self.on_failure is not None:
            with contextlib.suppress(Exception):  # reporting must not fail the export
                self.on_failure(what)


def _union(patterns: Iterable[str]) -> str:
    """One alternation of several patterns; a leading ``(?i)`` becomes a scoped ``(?i:...)``."""
    return "|".join(f"(?i:{p[4:]})" if p.startswith("(?i)") else f"(?:{p})" for p in patterns)


def _is_sql(attributes: Mapping[str, Any]) -> bool:
    system = attributes.get("db.system.name", attributes.get("db.system"))
    return isinstance(system, str) and system.lower() in SQL_SYSTEMS
