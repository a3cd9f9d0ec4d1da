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
from typing import Any, NamedTuple

from otelbundle.scrub.rules import (
    DB_STATEMENT_KEYS,
    KEY_MASK,
    KEY_PATTERNS,
    MARKER,
    PARAM_NAMES,
    RULES,
    SQL_SYSTEMS,
    name_gates,
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
_HAS_LITERAL = re.compile(r"['0-9]")
_KEY_CACHE_LIMIT = 4096
_SEEN_LIMIT = 4096
_SEEN_MAX_LENGTH = 512


def scrub_sql(statement: str) -> str:
    """String and numeric literals become ``?``; placeholders ($1, :name, %s, ?) and identifiers stay."""
    return _SQL_NUMBER.sub("?", _SQL_STRING.sub("?", statement))


class _Compiled(NamedTuple):
    pattern: re.Pattern[str]
    replacement: str
    gates: tuple[str, ...]
    lowercase: bool


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
        rules: list[_Compiled] = []
        for rule in RULES:
            pattern, gates = rule.pattern, rule.gates
            if rule.name == "query-credentials" and self.extra_param_names:
                names = [*PARAM_NAMES, *self.extra_param_names]
                pattern, gates = param_names_pattern(names), name_gates(names)
            compiled = re.compile(pattern, re.ASCII)
            rules.append(_Compiled(compiled, rule.python_replacement, gates, rule.gate_lowercase))
        for extra in self.extra_patterns:
            compiled = re.compile(extra)
            rules.append(_Compiled(compiled, f"\\g<1>{MARKER}" if compiled.groups else MARKER, (), False))
        self._rules = tuple(rules)
        # Two searches tell whether any gated rule can match at all (most values: none can).
        self._gate_lower = _literals(g for r in rules if r.lowercase for g in r.gates)
        self._gate_exact = _literals(g for r in rules if not r.lowercase for g in r.gates)
        self._ungated = any(not r.gates for r in rules)
        # Attribute values repeat (methods, routes, hosts, user agents, URLs): results of the
        # rules for short values are remembered, the table emptied when it is full.
        self._seen: dict[str, str] = {}
        self._keys = re.compile(_union(KEY_PATTERNS))
        self._allowed = frozenset(self.allowed_keys)
        self._masked_keys: dict[str, bool] = {}

    # ---- values --------------------------------------------------------
    def text(self, value: str, where: str = "") -> str:
        """``value`` with every rule applied (and the hook); the marker if that fails."""
        try:
            seen = self._seen.get(value)
            if seen is None:
                original = value
                value = self._apply_rules(value)
                if len(original) <= _SEEN_MAX_LENGTH:
                    if len(self._seen) >= _SEEN_LIMIT:
                        self._seen.clear()
                    self._seen[original] = value
            else:
                value = seen
            if self.hook is not None:
                value = str(self.hook(where, value))
            return value
        except Exception as exc:
            self._failed(f"{where or 'a value'}: {type(exc).__name__}: {exc}")
            return FAILED_MARKER

    def _apply_rules(self, value: str) -> str:
        lowered = value.lower()
        if not (
            self._ungated
            or (self._gate_exact is not None and self._gate_exact.search(value))
            or (self._gate_lower is not None and self._gate_lower.search(lowered))
        ):
            return value
        for rule in self._rules:
            if rule.gates:
                haystack = lowered if rule.lowercase else value
                if not any(gate in haystack for gate in rule.gates):
                    continue
            replaced = rule.pattern.sub(rule.replacement, value)
            if replaced != value:
                value = replaced
                lowered = value.lower()
        return value

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
        sql: bool | None = None  # looked up only on a record that has a statement
        allowed, masked_keys = self._allowed, self._masked_keys
        for key, original in attributes.items():
            # value() inlined for the common cases: this loop runs for every attribute exported.
            if key in allowed:
                continue
            masked = masked_keys.get(key)
            if masked is None:
                masked = self.key_is_masked(key)
            if masked:
                value: Any = KEY_MASK
            elif type(original) is str:
                value = original
                if key in DB_STATEMENT_KEYS:
                    if sql is None:
                        sql = _is_sql(attributes)
                    if sql:
                        value = self._sql(value, key)
                value = self.text(value, key)
            elif isinstance(original, (tuple, list)):
                value = self.value(key, original)
            else:
                continue
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
        if not _HAS_LITERAL.search(name) or not attributes or not _is_sql(attributes):
            return name
        return self._sql(name, "span.name")

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


def _literals(gates: Iterable[str]) -> re.Pattern[str] | None:
    unique = sorted(set(gates))
    return re.compile("|".join(re.escape(g) for g in unique)) if unique else None


def _union(patterns: Iterable[str]) -> str:
    """One alternation of several patterns; a leading ``(?i)`` becomes a scoped ``(?i:...)``."""
    return "|".join(f"(?i:{p[4:]})" if p.startswith("(?i)") else f"(?:{p})" for p in patterns)


def _is_sql(attributes: Mapping[str, Any]) -> bool:
    system = attributes.get("db.system.name", attributes.get("db.system"))
    return isinstance(system, str) and system.lower() in SQL_SYSTEMS
