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

from otelbundle.scrub.patterns import compile_rules, resume_at, trie, union
from otelbundle.scrub.rules import (
    DB_STATEMENT_KEYS,
    KEY_COUNT_PATTERN,
    KEY_IGNORED_PATTERNS,
    KEY_MASK,
    KEY_NOT_A_COUNT_PATTERN,
    KEY_PATTERNS,
)
from otelbundle.scrub.sql import HAS_LITERAL, is_sql, scrub_sql

FAILED_MARKER = "REDACTED (scrubbing failed)"
# How the report of a hook that returned something other than a str begins (said once).
HOOK_RESULT_IGNORED = "the scrub hook returned"

# hook(where, value) -> value: ``where`` is the attribute key (also for the values nested
# in it), or one of "span.name", "span.status.message", "span.event.name", "log.body",
# "log.event_name".
Hook = Callable[[str, str], str]

_KEY_CACHE_LIMIT = 4096
_SEEN_LIMIT = 4096
_SEEN_MAX_LENGTH = 512

# How many gate literals one value is searched for before every rule is run on it instead.
_GATE_SCAN_LIMIT = 24
# What the first item of a pair in a sequence must be to be taken for a name (a header's, a
# form field's): one word, not text that only mentions one (`[url_with_api_key, 3]`).
_PAIR_NAME = re.compile(r"[A-Za-z0-9_.-]{1,128}")


# What an attribute key means for its value; decided once per key (see Scrubber._key_kind).
_PLAIN, _ALLOWED, _MASKED, _STATEMENT = range(4)


@dataclass
class ScrubStats:
    """How often scrubbing failed: values replaced by the marker, records not exported, and
    values for which the hook returned something other than a str (the rules' result exported)."""

    failed_values: int = 0
    dropped_records: int = 0
    hook_results_ignored: int = 0


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
    _hook_reported: bool = field(default=False, repr=False)

    def __post_init__(self) -> None:
        rules, gates = compile_rules(self.extra_patterns, self.extra_param_names)
        self._rules = rules
        # Which rules can match a value at all: the gate literals it has, found by one search
        # (most values: none, and no rule runs), continued after each hit (see _gates_in).
        self._gate_search = re.compile(trie(gates)).search if gates else None
        # A literal found implies the shorter ones it contains (the search finds the longest);
        # the next search starts where another literal could begin inside it and end beyond it.
        self._implied = {g: frozenset(h for h in gates if h in g) for g in gates}
        self._resume = {g: resume_at(g, gates) for g in gates}
        self._ungated = any(r.gates is None for r in rules)
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
        self._keys = re.compile(union(KEY_PATTERNS))
        self._ignored_keys = re.compile(union(KEY_IGNORED_PATTERNS))
        self._allowed = frozenset(self.allowed_keys)
        self._masked_keys: dict[str, bool] = {}
        self._count_keys: dict[str, bool] = {}
        self._count = re.compile(KEY_COUNT_PATTERN).search
        self._not_a_count = re.compile(KEY_NOT_A_COUNT_PATTERN).search
        self._key_kinds: dict[str, int] = {}
        self._plain_keys: set[str] = set()  # keys whose values only the rules look at
        self._names_without_literals: set[str] = set()
        self._clean_names: set[str] = set()  # span names span_name() gives back as they are

    # ---- values --------------------------------------------------------
    def text(self, value: str, where: str = "") -> str:
        """``value`` scrubbed as the exporters scrub the attribute ``where`` on its own: the
        whole value masked when ``where`` is a credential-named key, a statement's literals
        taken out when it is ``db.statement``/``db.query.text`` (no ``db.system`` to go by:
        always), then every rule applied (and the hook); the marker if that fails.

        For values quoted outside a span or record (alert labels and evidence);
        the export path, which knows each key's kind, uses :meth:`_text`."""
        if where and where not in self._allowed:
            if self.key_is_masked(where):
                return KEY_MASK
            if where in DB_STATEMENT_KEYS:
                value = self._sql(value, where)
        return self._text(value, where)

    def _text(self, value: str, where: str = "") -> str:
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
                result = self.hook(where, value)
                if isinstance(result, str):
                    value = result if type(result) is str else str(result)
                else:  # None (a hook without `return`), bytes, ...: the rules' result stays
                    self._hook_result_ignored(where, result)
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
        search = self._gate_search
        lowered = value.lower()
        first = search(lowered) if search is not None else None
        if first is None:
            if not self._ungated:
                return value  # most values: no rule can match
            found: frozenset[str] | None = frozenset()
        else:
            found = self._gates_in(lowered, first)
        for rule in self._rules:
            gates = rule.gates
            if gates is not None and found is not None and gates.isdisjoint(found):
                continue
            replaced = rule.pattern.sub(rule.replacement, value)
            if replaced != value:
                value = replaced
                # What the later rules may need is looked for again in what is left.
                lowered = value.lower()
                first = search(lowered) if search is not None else None
                found = frozenset() if first is None else self._gates_in(lowered, first)
        return value

    def _gates_in(self, lowered: str, first: re.Match[str]) -> frozenset[str] | None:
        """Every gate literal in ``lowered``, from the search's first hit on; None (every rule
        runs) for a value with more than _GATE_SCAN_LIMIT hits."""
        search, implied, resume = self._gate_search, self._implied, self._resume
        assert search is not None
        literal = first.group()
        found = set(implied[literal])
        start = first.start()
        for _ in range(_GATE_SCAN_LIMIT):
            # At each position the search takes the longest literal: the shorter ones there, and
            # those inside it, are implied. The next search starts at the first position inside
            # it where a literal could begin that ends beyond it (overlaps), else after it.
            match = search(lowered, start + resume[literal])
            if match is None:
                return frozenset(found)
            literal, start = match.group(), match.start()
            found.update(implied[literal])
        return None

    def key_is_masked(self, key: str) -> bool:
        verdict = self._masked_keys.get(key)
        if verdict is None:
            verdict = self._keys.match(key) is not None and self._ignored_keys.fullmatch(key) is None
            if len(self._masked_keys) < _KEY_CACHE_LIMIT:
                self._masked_keys[key] = verdict
        return verdict

    def _keeps(self, key: str, value: Any) -> bool:
        """Whether ``value`` under the credential-named ``key`` keeps its value (KEY_COUNT_PATTERN):
        a bool, or a number under a token count's name."""
        kind = type(value)
        if kind is bool:
            return True
        if kind is not int and kind is not float:
            return False
        verdict = self._count_keys.get(key)
        if verdict is None:
            verdict = self._count(key) is not None and self._not_a_count(key) is None
            if len(self._count_keys) < _KEY_CACHE_LIMIT:
                self._count_keys[key] = verdict
        return verdict

    def _deep(self, value: Any, where: str) -> Any:
        """``value`` with every string in it scrubbed, however deep: in sequences, in maps (whose
        credential-named keys get the mask) and in bytes. Containers come back rebuilt."""
        if isinstance(value, str):
            return self._text(value, where)
        if isinstance(value, Mapping):
            return {
                k: (
                    KEY_MASK
                    if isinstance(k, str) and self.key_is_masked(k) and not self._keeps(k, v)
                    else self._deep(v, where)
                )
                for k, v in value.items()
            }
        if isinstance(value, (list, tuple)):
            return self._sequence(value, where)
        if isinstance(value, (bytes, bytearray)):
            return self._bytes(value, where)
        return value

    def _sequence(self, items: Sequence[Any], where: str) -> list[Any] | tuple[Any, ...]:
        """Each item scrubbed; an item that is a (name, value) pair whose name is a credential's
        (an ASGI scope's ``[(b"authorization", b"Basic ..."), ...]``, ``parse_qsl``'s
        ``[("api_key", "..."), ...]``) gets the mask for its value, as a map's key would."""
        scrubbed = [
            self._pair(item, where)
            if type(item) in _PAIRS and len(item) == 2 and self._masks_pair(item[0], item[1])
            else self._deep(item, where)
            for item in items
        ]
        return tuple(scrubbed) if isinstance(items, tuple) else scrubbed

    def _masks_pair(self, name: Any, value: Any) -> bool:
        if isinstance(name, (bytes, bytearray)):
            name = bytes(name).decode("latin-1")
        return (
            isinstance(name, str)
            and _PAIR_NAME.fullmatch(name) is not None
            and self.key_is_masked(name)
            and not self._keeps(name, value)
        )

    def _pair(self, pair: list[Any] | tuple[Any, ...], where: str) -> list[Any] | tuple[Any, ...]:
        name = self._deep(pair[0], where)
        return (name, KEY_MASK) if type(pair) is tuple else [name, KEY_MASK]

    def _bytes(self, value: bytes | bytearray, where: str) -> bytes | bytearray:
        """Bytes as UTF-8 text (bytes that are not stay as they were), the rules applied to it."""
        text = bytes(value).decode("utf-8", "surrogateescape")
        scrubbed = self._text(text, where)
        if scrubbed == text:
            return value
        try:
            return scrubbed.encode("utf-8", "surrogateescape")
        except UnicodeError as exc:  # a hook's result that is not text
            self._failed(f"{where or 'a value'}: {type(exc).__name__}: {exc}")
            return FAILED_MARKER.encode()

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
                        value = self._text(original, key)
                elif type(original) in _NUMBERS:
                    continue
                else:  # sequences; maps and bytes (log attributes)
                    value = self._deep(original, key)
            elif kind == _ALLOWED:
                continue
            elif kind == _MASKED:
                if type(original) in _NUMBERS and self._keeps(key, original):
                    continue
                value = KEY_MASK
            elif type(original) is str:  # a database statement
                value = original
                if sql is None:
                    sql = is_sql(values)
                if sql:
                    value = self._sql(value, key)
                value = self._text(value, key)
            elif type(original) in _NUMBERS:
                continue
            else:
                value = self._deep(original, key)
            if value is not original and value != original:
                values[key] = value
                changed = True
        return values if changed else None

    def body(self, body: Any, where: str = "log.body") -> Any:
        """A log body: a string, bytes, or maps/sequences of them (structured logs), all the way down."""
        return self._deep(body, where)

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
        if not HAS_LITERAL.search(name):
            if len(self._names_without_literals) < _KEY_CACHE_LIMIT:
                self._names_without_literals.add(name)
            return name
        if not attributes or not is_sql(attributes):
            return name
        return self._sql(name, "span.name")

    # ---- failures --------------------------------------------------------
    def summary(self) -> str | None:
        """One line at exit when anything failed (once per process), else None."""
        with self._lock:
            stats = self.stats
            if self._summarised or not (
                stats.failed_values or stats.dropped_records or stats.hook_results_ignored
            ):
                return None
            self._summarised = True
            lines = []
            if stats.failed_values or stats.dropped_records:
                lines.append(
                    f"otelbundle: scrubbing failed for {stats.failed_values} values (replaced by {FAILED_MARKER!r}) "
                    f"and {stats.dropped_records} records (not exported)."
                )
            if stats.hook_results_ignored:
                lines.append(
                    f"otelbundle: the scrub hook returned something other than a str for "
                    f"{stats.hook_results_ignored} values (exported as the built-in rules left them)."
                )
            return "\n".join(lines)

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

    def _hook_result_ignored(self, where: str, result: object) -> None:
        with self._lock:
            self.stats.hook_results_ignored += 1
            first = not self._hook_reported
            self._hook_reported = True
        if first:
            self._report(
                f"{HOOK_RESULT_IGNORED} {type(result).__name__} for {where or 'a value'!r}, not a str: "
                "its result is ignored and the value is exported as the built-in rules left it "
                "(said once; a hook must return the value, changed or not)"
            )

    def _failed(self, what: str) -> None:
        with self._lock:
            self.stats.failed_values += 1
        self._report(what)

    def _report(self, what: str) -> None:
        if self.on_failure is not None:
            with contextlib.suppress(Exception):  # reporting must not fail the export
                self.on_failure(what)


# Value types the rules never change (bool is its own type here: type(), not isinstance()).
_NUMBERS = frozenset((int, float, bool))
# What a (name, value) pair in a sequence can be.
_PAIRS = (tuple, list)


def _plain_copy(attributes: Mapping[str, Any]) -> dict[str, Any]:
    """A dict of ``attributes``. The SDK's mappings (BoundedAttributes, and the read-only
    proxy a span hands out) copy their dict in C through ``copy()``; their ``items()``
    iterate in Python, several times slower."""
    try:
        copied = attributes.copy()  # type: ignore[attr-defined]
    except Exception:  # a mapping without copy(), or one whose copy() fails: plain iteration
        copied = None
    return copied if type(copied) is dict else dict(attributes)
