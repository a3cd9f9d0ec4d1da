"""No built-in rule takes more than linear time on any value: scrubbing holds the GIL.

Python's ``re`` backtracks. Before these tests, one logged value froze every thread of
the app: ``'pwd' + ' ' * 40000`` took 14.8 s (a whitespace run split every way between
``\\s*[=:\\s]\\s*``), 5000 ``-----BEGIN PRIVATE KEY-----`` lines 7.6 s (a lazy ``[\\s\\S]*?``
looked for the END line from each of them to the end of the value), and ``"`` followed by
``token`` repeated, ``authorization:`` followed by whitespace, ``eyJ`` repeated took
quadratic time too. Python's ``re`` cannot count its steps, so the second test bounds the
time of each adversarial value by a ceiling hundreds of times what a linear scan of it
takes (milliseconds): it fails only on super-linear work, which takes seconds there.
"""

from __future__ import annotations

import re
import time

from otelbundle.scrub import Scrubber
from otelbundle.scrub.rules import RULES

# The most one adversarial value may take to scrub. A linear scan of one by every rule takes
# milliseconds; the quadratic cases above took seconds to minutes at these lengths.
CEILING_S = 1.0
RUN_LENGTH = 20_000  # a run of one character after a word: quadratic in it
REPEATED_LENGTH = 150_000  # a word repeated: quadratic in the number of repetitions

# Repetitions that can take a run of characters more than one way, or lazily.
_UNBOUNDED_OR_LAZY = re.compile(r"\\s[*+]|\\s\{\d+,\}|\[ \\t\][*+]|[*+}]\?|\[\\s\\S\]")


def test_no_rule_repeats_whitespace_without_bound_or_lazily() -> None:
    """Whitespace between a name and its value is bounded (``\\s{0,16}``); no lazy scan."""
    for rule in RULES:
        found = _UNBOUNDED_OR_LAZY.search(rule.pattern)
        assert found is None, f"{rule.name}: {found.group()!r} in {rule.pattern}"


# What the rules look for (each rule's gates: at least one per rule, checked below), and the
# characters their classes and separators take.
WORDS = (
    "-----BEGIN PRIVATE KEY-----",
    "-----END PRIVATE KEY-----",
    "://",
    "@",
    "key=",
    "x-amz-signature=",
    "(api_key=",
    "pwd",
    "token",
    "identified",
    "api_key",
    "'password'",
    '"token"',
    '\\"password\\"',
    '":',
    "password=",
    "access_key:",
    "AccountKey=",
    "Cookie:",
    "authorization:",
    "bearer",
    "Basic dXNl",
    "eyJ",
    "%3DeyJ",
    "eyJhbGciOi.eyJ",
    "AKIA",
    "github_pat_",
    "xoxb-",
    "glpat-",
    "sk_live_",
    "SG.",
    "sk-",
    "hooks.slack.com/services/",
)
FILLS = (" ", "\n", "\t", "a", "A", "0", "-", "_", ".", "/", "=", ":", "\\", '"', "'", "&", "%", "(")


def _adversarial(word: str) -> list[tuple[str, str]]:
    """Values built around ``word``: a long run of each character after it, ended by a comma
    (which no value takes), and ``word`` repeated."""
    many = REPEATED_LENGTH // (len(word) + 1)
    values = [(f"{fill!r} run", word + fill * RUN_LENGTH + ",") for fill in FILLS]
    values += [
        ("repeated", word * many),
        ("repeated after a quote", '"' + word * many),
        ("repeated, dashed", (word + "-") * many),
    ]
    return values


def test_every_rule_scrubs_adversarial_values_in_linear_time() -> None:
    # A new rule gets adversarial values too: a word here holds one of its gates.
    for rule in RULES:
        assert any(g.lower() in w.lower() for g in rule.gates for w in WORDS), f"no word for {rule.name}"
    scrubber = Scrubber()
    slow = []
    for word in WORDS:
        for shape, value in _adversarial(word):
            started = time.perf_counter()
            scrubber.text(value)
            took = time.perf_counter() - started
            if took > CEILING_S:
                slow.append(f"{word!r} {shape}: {took:.1f} s")
                break  # one per word is enough: the next may take minutes
    assert not slow, slow
