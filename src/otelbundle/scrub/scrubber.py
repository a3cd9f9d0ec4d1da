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
    replacement: str | Callable[[re.Match[str]], str]
    gate: str | re.Pattern[str] | None  # the one gate, or one search for any of them; None: always run
    lowercase: bool


# What an attribute key means for its value; decided once per key (see Scrubber._key_kind).
_PLAIN, _ALLOWED, _MASKED, _STATEMENT = range(4)


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
        gates: list[str] = []
        for rule in RULES:
            pattern, rule_gates = rule.pattern, rule.gates
            if rule.name == "query-credentials" and self.extra_param_names:
                names = [*PARAM_NAMES, *self.extra_param_names]
                pattern, rule_gates = param_names_pattern(names), name_gates(names)
            compiled = re.compile(pattern, re.ASCII)
            rules.append(
                _Compiled(
                    compiled, _replacer(rule.python_replacement), _gate(rule_gates), rule.gate_lowercase
                )
            )
            gates.extend(g.lower() for g in rule_gates)
        for extra in self.extra_patterns:
            compiled = re.compile(extra)
            rules.append(
                _Compiled(compiled, _replacer(f"\\g<1>{MARKER}" if compiled.groups else MARKER), None, False)
            )
        self._rules = tuple(rules)
        # One search of the lowercased value tells whether any gated rule can match at all (most
        # values: none can). Every gate is in it lowercased: a superset of the rules' own checks.
        self._prefilter = _literals(gates)
        self._ungated = any(r.gate is None for r in rules)
        # Attribute values repeat (methods, routes, hosts, user agents, URLs): results of the
        # rules for short values are remembered, the table emptied when it is full.
        self._seen: dict[str, str] = {}
        # Short strings the rules are known to leave as they are: a mapping whose keys are all
        # plain and whose values are all in here or numbers is passed on after one set
        # operation, without a look at each attribute.
        self._unchanged: set[Any] = set()
        # SQL statements with their literals taken out, for the short ones (parameterised
        # statements repeat; those with literals inlined rarely do).
        self._statements: dict[str, str] = {}
        self._keys = re.compile(_union(KEY_PATTERNS))
        self._allowed = frozenset(self.allowed_keys)
        self._masked_keys: dict[str, bool] = {}
        self._key_kinds: dict[str, int] = {}
        self._plain_keys: set[str] = set()  # keys whose values only the rules look at
        self._names_without_literals: set[str] = set()
        self._clean_names: set[str] = set()  # span names span_name() gives back as they are

    # ---- values --------------------------------------------------------
    def text(self, value: str, where: str = "") -> str:
        """``value`` with every rule applied (and the hook); the marker if that fails."""
        try:
            seen = self._seen.get(value)
            if seen is None:
                original = value
                value = self._apply_rules(value)
                if len(original) <= _SEEN_MAX_LENGTH:
                    self._remember(original, value)
            else:
                value = seen
            if self.hook is not None:
                value = str(self.hook(where, value))
            return value
        except Exception as exc:
            self._failed(f"{where or 'a value'}: {type(exc).__name__}: {exc}")
            return FAILED_MARKER

    def _remember(self, original: str, result: str) -> None:
        if len(self._seen) >= _SEEN_LIMIT:
            self._seen.clear()
            self._unchanged.clear()
        self._seen[original] = result
        if result == original:
            self._unchanged.add(original)

    def _apply_rules(self, value: str) -> str:
        lowered = value.lower()
        if not self._ungated and (self._prefilter is None or self._prefilter.search(lowered) is None):
            return value
        for rule in self._rules:
            gate = rule.gate
            if gate is not None:
                haystack = lowered if rule.lowercase else value
                if isinstance(gate, str):
                    if gate not in haystack:
                        continue
                elif gate.search(haystack) is None:
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

    def _key_kind(self, key: str) -> int:
        """What ``key`` means for its value, remembered for the first _KEY_CACHE_LIMIT keys."""
        if key in self._allowed:
            kind = _ALLOWED
        elif self.key_is_masked(key):
            kind = _MASKED
        elif key in DB_STATEMENT_KEYS:
            kind = _STATEMENT
        else:
            kind = _PLAIN
        if len(self._key_kinds) < _KEY_CACHE_LIMIT:
            self._key_kinds[key] = kind
            if kind == _PLAIN:
                self._plain_keys.add(key)
        return kind

    def attributes(self, attributes: Mapping[str, Any] | None) -> dict[str, Any] | None:
        """A scrubbed copy, or None when nothing changed (the caller keeps the original)."""
        if attributes is None:
            return None
        try:
            values = attributes.copy()  # type: ignore[attr-defined]
        except Exception:  # a mapping without copy(), or one whose copy() fails: _plain_copy below
            values = None
        if type(values) is not dict:
            values = _plain_copy(attributes)
        if not values:
            return None
        hook = self.hook
        if hook is None and self._plain_keys.issuperset(values):
            # Every key plain: nothing to do when every value but the numbers (which the rules
            # never change) is one the rules left as it is before. Set operations and
            # filters in C, no Python-level step per attribute.
            try:
                unknown = set(values.values()).difference(self._unchanged)
                if not unknown or _NUMBERS.issuperset(map(type, unknown)):
                    return None
            except TypeError:  # an unhashable value: looked at one by one below
                pass
        changed = False
        sql: bool | None = None  # looked up only on a record that has a statement
        kinds, seen = self._key_kinds, self._seen
        for key, original in values.items():  # values is our own dict: changed in place
            kind = kinds.get(key)
            if kind is None:
                kind = self._key_kind(key)
            if kind == _PLAIN:
                if type(original) is str:
                    value: Any = seen.get(original) if hook is None else None
                    if value is None:
                        value = self.text(original, key)
                elif isinstance(original, (tuple, list)):
                    value = self.value(key, original)
                else:
                    continue
            elif kind == _ALLOWED:
                continue
            elif kind == _MASKED:
                value = KEY_MASK
            elif type(original) is str:  # a database statement
                value = original
                if sql is None:
                    sql = _is_sql(values)
                if sql:
                    value = self._sql(value, key)
                value = self.text(value, key)
            elif isinstance(original, (tuple, list)):
                value = self.value(key, original)
            else:
                continue
            if value is not original and value != original:
                values[key] = value
                changed = True
        return values if changed else None

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

    def span_name(self, name: str, attributes: Mapping[str, Any] | None) -> str:
        """A span's name scrubbed (:meth:`sql_name`, then the rules); names known to come out
        as they went in (no literals, nothing for the rules, no hook) after one set lookup."""
        if name in self._clean_names:
            return name
        result = self.text(self.sql_name(name, attributes), "span.name")
        if (
            result == name
            and self.hook is None
            and name in self._names_without_literals
            and len(self._clean_names) < _KEY_CACHE_LIMIT
        ):
            self._clean_names.add(name)
        return result

    def sql_name(self, name: str, attributes: Mapping[str, Any] | None) -> str:
        """A span name that is the SQL statement itself loses its literals too."""
        if name in self._names_without_literals:  # most spans: a route or an operation name
            return name
        if not _HAS_LITERAL.search(name):
            if len(self._names_without_literals) < _KEY_CACHE_LIMIT:
                self._names_without_literals.add(name)
            return name
        if not attributes or not _is_sql(attributes):
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
        done = self._statements.get(statement)
        if done is not None:
            return done
        try:
            result = scrub_sql(statement)
        except Exception as exc:
            self._failed(f"{where}: {type(exc).__name__}: {exc}")
            return FAILED_MARKER
        if len(statement) <= _SEEN_MAX_LENGTH:
            if len(self._statements) >= _SEEN_LIMIT:
                self._statements.clear()
            self._statements[statement] = result
        return result

    def _failed(self, what: str) -> None:
        with self._lock:
            self.stats.failed_values += 1
        self._report(what)

    def _report(self, what: str) -> None:
        if self.on_failure is not None:
            with contextlib.suppress(Exception):  # reporting must not fail the export
                self.on_failure(what)


_GROUP_REFERENCE = re.compile(r"\\g<(\d+)>")


def _replacer(template: str) -> str | Callable[[re.Match[str]], str]:
    """``template`` as ``Pattern.sub`` takes it fastest: a template with group references is
    parsed again on every ``sub`` call, a function building the same text is not."""
    parts = _GROUP_REFERENCE.split(template)
    literals, groups = parts[0::2], [int(g) for g in parts[1::2]]
    if not groups or any("\\" in literal for literal in literals):
        return template  # no reference (taken as is), or escapes this does not handle

    def build(match: re.Match[str]) -> str:
        text = literals[0]
        for group, literal in zip(groups, literals[1:], strict=True):
            text += (match.group(group) or "") + literal
        return text

    return build


def _gate(gates: tuple[str, ...]) -> str | re.Pattern[str] | None:
    """A rule's gate check: ``in`` for a single substring, one search for several."""
    return gates[0] if len(gates) == 1 else _literals(gates)


def _literals(gates: Iterable[str]) -> re.Pattern[str] | None:
    """One search for any of ``gates``; a gate containing a shorter one is left out (same verdict)."""
    unique = sorted(set(gates), key=len)
    kept = [g for i, g in enumerate(unique) if not any(shorter in g for shorter in unique[:i])]
    return re.compile("|".join(re.escape(g) for g in sorted(kept))) if kept else None


def _union(patterns: Iterable[str]) -> str:
    """One alternation of several patterns; a leading ``(?i)`` becomes a scoped ``(?i:...)``."""
    return "|".join(f"(?i:{p[4:]})" if p.startswith("(?i)") else f"(?:{p})" for p in patterns)


# Value types the rules never change (bool is its own type here: type(), not isinstance()).
_NUMBERS = frozenset((int, float, bool))


def _plain_copy(attributes: Mapping[str, Any]) -> dict[str, Any]:
    """A dict of ``attributes``. The SDK's mappings (BoundedAttributes, and the read-only
    proxy a span hands out) copy their dict in C through ``copy()``; their ``items()``
    iterate in Python, several times slower."""
    try:
        copied = attributes.copy()  # type: ignore[attr-defined]
    except Exception:  # a mapping without copy(), or one whose copy() fails: plain iteration
        copied = None
    return copied if type(copied) is dict else dict(attributes)


def _is_sql(attributes: Mapping[str, Any]) -> bool:
    system = attributes.get("db.system.name", attributes.get("db.system"))
    return isinstance(system, str) and system.lower() in SQL_SYSTEMS
