"""What of a Python regular expression Go's RE2 (Prometheus', Alertmanager's) refuses.

Regexes are compiled with Python's ``re`` in process, and some are handed to Go
programs too, or read as they read them: an SLO's ``name_regex`` in the generated
Prometheus rules, a channel's ``match:`` in Alertmanager's matcher syntax. RE2 has no
lookaround, backreferences, atomic groups, possessive quantifiers, conditionals,
comments, ``\\Z``, ``\\u``, flags other than ``i``, ``m``, ``s``, and reads
``{,n}`` as text: a file with one does not load there (or matches otherwise), so
it is refused or left out here, said, before it gets there.
"""

from __future__ import annotations

import re

_GROUPS = {
    "?=": "a lookahead (?=...)",
    "?!": "a negative lookahead (?!...)",
    "?<=": "a lookbehind (?<=...)",
    "?<!": "a negative lookbehind (?<!...)",
    "?P=": "a named backreference (?P=name)",
    "?#": "a comment (?#...)",
    "?>": "an atomic group (?>...)",
    "?(": "a conditional (?(id)...)",
}
RE2_FLAGS = frozenset("ims")
_ESCAPES = {
    **{digit: f"\\{digit} (a backreference, or Python's octal escape)" for digit in "123456789"},
    "Z": "\\Z (RE2 writes \\z)",
    "u": "a \\u escape (RE2 writes \\x{...})",
    "U": "a \\U escape (RE2 writes \\x{...})",
    "N": "a \\N{name} escape",
}
_MIN_OMITTED = re.compile(r"\{,\d+\}")


def re2_unsupported(pattern: str) -> str | None:
    """The first construct of ``pattern`` RE2 does not support, described; None when there is none."""
    index, in_class = 0, False
    while index < len(pattern):
        char = pattern[index]
        if char == "\\":
            escaped = pattern[index + 1 : index + 2]
            if escaped and escaped in _ESCAPES:
                return _ESCAPES[escaped]
            if in_class and escaped == "b":
                return "[\\b] (Python's backspace; RE2 writes \\x08)"
            index += 2
            continue
        if in_class:
            in_class = char != "]"
        elif char == "[":
            in_class = True
            index += 1
            index += pattern[index : index + 1] == "^"
            index += pattern[index : index + 1] == "]"  # a ] first in a class is a literal
            continue
        elif char == "(":
            found = _group(pattern[index + 1 :])
            if found:
                return found
        elif char == "{" and _MIN_OMITTED.match(pattern, index):
            return "a{,n} (RE2 reads it as text; write {0,n})"
        elif char in "*+?}" and pattern[index + 1 : index + 2] == "+" and _quantifies(pattern, index):
            return f"a possessive quantifier {char}+"
        index += 1
    return None


def _group(rest: str) -> str | None:
    for opening, description in _GROUPS.items():
        if rest.startswith(opening):
            return description
    if rest.startswith("?") and not rest.startswith(("?P<", "?:")):
        flags = ""
        for char in rest[1:]:
            if char in ":)":
                break
            flags += char
        unsupported = sorted(set(flags) - RE2_FLAGS - {"-"})
        if unsupported:
            return f"the flag {unsupported[0]!r} (RE2 knows i, m and s)"
    return None


def _quantifies(pattern: str, index: int) -> bool:
    """Whether the ``*``, ``+``, ``?`` or ``}`` at ``index`` ends a quantifier (not ``(?``, not a literal ``}``)."""
    char = pattern[index]
    if char == "?" and index > 0 and pattern[index - 1] == "(":
        return False
    if char == "}":
        start = pattern.rfind("{", 0, index)
        return start >= 0 and all(c.isdigit() or c == "," for c in pattern[start + 1 : index])
    return True
