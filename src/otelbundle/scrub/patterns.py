"""Building the scrubber's regexes once, at start: what makes them cheap to run on every value.

Kept apart from the scrubber so that what runs per value (scrubber.py) reads on its own.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Sequence
from typing import Any, NamedTuple

from otelbundle.scrub.rules import (
    MARKER,
    PARAM_NAMES,
    RULES,
    name_gates,
    param_list_pattern,
    param_names_pattern,
)

# The rules made from the parameter names: scrub.extra_param_names adds to both.
_BY_NAMES: dict[str, Callable[[list[str]], str]] = {
    "query-credentials": param_names_pattern,
    "query-list": param_list_pattern,
}


class Compiled(NamedTuple):
    pattern: re.Pattern[str]
    replacement: str | Callable[[re.Match[str]], str]
    gates: frozenset[str] | None  # lowercased; the rule runs when the value has any of them. None: always


def compile_rules(
    extra_patterns: Sequence[str], extra_param_names: Sequence[str]
) -> tuple[tuple[Compiled, ...], set[str]]:
    """The built-in rules and the user's patterns compiled, and every gate literal of them."""
    rules: list[Compiled] = []
    gates: set[str] = set()
    for rule in RULES:
        pattern, rule_gates = rule.pattern, rule.gates
        if rule.name in _BY_NAMES and extra_param_names:
            names = [*PARAM_NAMES, *extra_param_names]
            pattern, rule_gates = _BY_NAMES[rule.name](names), name_gates(names)
        compiled = re.compile(pattern, re.ASCII)
        # Gates are looked for in the lowercased value, also a case-sensitive rule's: a
        # superset of its own check (it may run where it finds nothing, never the reverse).
        lowered = frozenset(g.lower() for g in rule_gates) if rule_gates else None
        rules.append(Compiled(compiled, replacer(rule.python_replacement), lowered))
        gates.update(lowered or ())
    for extra in extra_patterns:
        compiled = re.compile(extra)
        rules.append(Compiled(compiled, replacer(f"\\g<1>{MARKER}" if compiled.groups else MARKER), None))
    return tuple(rules), gates


_GROUP_REFERENCE = re.compile(r"\\g<(\d+)>")


def replacer(template: str) -> str | Callable[[re.Match[str]], str]:
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


def resume_at(literal: str, literals: Iterable[str]) -> int:
    """The first offset in ``literal`` where another of ``literals`` could start and run past its end."""
    others = [other for other in literals if other != literal]
    for offset in range(1, len(literal)):
        tail = literal[offset:]
        if any(len(other) > len(tail) and other.startswith(tail) for other in others):
            return offset
    return len(literal)


def trie(words: Iterable[str]) -> str:
    """A regex for any of ``words`` that matches the longest one at a position, as a trie
    (``a(?:kia|uth(?:orization)?)``): one character compared per step, not each word in turn."""
    root: dict[str, Any] = {}
    for word in words:
        node = root
        for char in word:
            node = node.setdefault(char, {})
        node[""] = {}

    def emit(node: dict[str, Any]) -> str:
        branches = [re.escape(char) + emit(child) for char, child in sorted(node.items()) if char]
        if not branches:
            return ""
        body = branches[0] if len(branches) == 1 else "(?:" + "|".join(branches) + ")"
        return f"(?:{body})?" if "" in node else body

    return emit(root)


def union(patterns: Iterable[str]) -> str:
    """One alternation of several patterns; a leading ``(?i)`` becomes a scoped ``(?i:...)``."""
    return "|".join(f"(?i:{p[4:]})" if p.startswith("(?i)") else f"(?:{p})" for p in patterns)
