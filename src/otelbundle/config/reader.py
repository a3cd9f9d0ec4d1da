"""Reading a section: helpers that read a key and record what is wrong, so one run reports every problem.

Each subsystem's ``section.py`` reads its part of ``otelbundle.yaml`` with these:
:class:`Problems` collects :class:`~otelbundle.config.problems.ConfigProblem`
values in file order; :meth:`Problems.value` turns a ``ValueError`` from a
parser of :mod:`~otelbundle.config.values` into a located problem; unknown keys
get a did-you-mean hint.
"""

from __future__ import annotations

import difflib
from collections.abc import Callable, Iterable, Iterator
from typing import Any, TypeVar

from otelbundle.config.loader import YamlMap, as_written, unset_env_problems
from otelbundle.config.problems import ConfigError, ConfigProblem, Mark

T = TypeVar("T")


def did_you_mean(word: str, choices: Iterable[str]) -> str:
    """`` (did you mean 'x'?)`` for the closest choice, or an empty string."""
    close = difflib.get_close_matches(word, sorted(choices), n=1)
    return f" (did you mean {close[0]!r}?)" if close else ""


def unknown_keys(mapping: YamlMap, allowed: Iterable[str], where: str) -> Iterator[ConfigProblem]:
    """Problems for every key of ``mapping`` not in ``allowed``, with a did-you-mean hint."""
    allowed = frozenset(allowed)
    for key in mapping:
        if key not in allowed:
            yield ConfigProblem(
                mapping.key_mark(key), f"unknown key {key!r} in {where}{did_you_mean(key, allowed)}"
            )


ENV_VALUE_SHOWN_AS = "the value of its ${env:...} (not shown)"


def hide_env_value(message: str, value: Any) -> str:
    """``message`` without the text of ``value``, which came from the environment.

    Variables carry secrets (a URL with a token, a DSN); a problem is printed on
    stderr and in CI logs, so it names the position and the variable's role, never
    its value. Parsers quote the text they refuse (``repr``), which is what is replaced.
    """
    if not isinstance(value, str) or value == "":
        return message
    for shown in (repr(value), repr(value.strip())):
        if shown != "''":
            message = message.replace(shown, ENV_VALUE_SHOWN_AS)
    return message


def from_environment(refs: tuple[str, ...] | None) -> bool:
    """Whether a value with these ``from_env`` entries holds text of a variable: it has an
    ``${env:...}`` reference, not only references in another syntax (``${TOKEN}``, left as written)."""
    return refs is not None and (not refs or not all(ref.startswith("${") for ref in refs))


def quoted_hint(value: Any, parse: Callable[[Any], Any], from_env: bool) -> str:
    """What to write when ``value`` was refused only for being text: ``port: "8080"`` and
    ``port: "${env:PORT}"`` are strings (quotes make a string, as in the collector), and the
    refusal ``expected a port number, got '8080'`` (or, from a variable, its value not shown)
    did not say why a port number was not one. Empty when the typed value is refused too."""
    typed = as_written(value) if isinstance(value, str) else None
    if typed is None:
        return ""
    try:
        parse(typed)
    except Exception:
        return ""
    what = "a boolean" if isinstance(typed, bool) else "a number"
    if from_env:
        return f' (a quoted "${{env:...}}" is text: write the reference unquoted, alone, to read {what})'
    return f" (in quotes it is text: write {value} without quotes to read {what})"


class Problems:
    """The problems of one load, in the order found; helpers read a key and record what is wrong.

    ``into`` lets a caller that already holds a list (older APIs) collect into it.
    """

    def __init__(self, into: list[ConfigProblem] | None = None) -> None:
        self.items: list[ConfigProblem] = [] if into is None else into

    def __len__(self) -> int:
        return len(self.items)

    def __iter__(self) -> Iterator[ConfigProblem]:
        return iter(self.items)

    def __bool__(self) -> bool:
        return bool(self.items)

    def add(self, mark: Mark, message: str) -> None:
        self.items.append(ConfigProblem(mark, message))

    def extend(self, problems: Iterable[ConfigProblem]) -> None:
        self.items.extend(problems)

    def unknown_keys(self, mapping: YamlMap, allowed: Iterable[str], where: str) -> None:
        self.items.extend(unknown_keys(mapping, allowed, where))

    def unset_env(self, value: Any, *, skip: Iterable[str] = ()) -> None:
        """One problem per ``${env:NAME}`` without a default whose variable is unset.

        ``skip`` names top-level keys of ``value`` that are checked elsewhere.
        """
        self.items.extend(unset_env_problems(value, skip=frozenset(skip)))

    def value(
        self,
        mapping: YamlMap,
        key: str,
        parse: Callable[[Any], T],
        default: T,
        *,
        required: bool = False,
        label: str | None = None,
    ) -> T:
        """``parse(mapping[key])``; a ValueError from ``parse`` becomes a located problem."""
        if key not in mapping:
            if required:
                self.add(mapping.mark, f"missing required key {key!r}")
            return default
        try:
            return parse(mapping[key])
        except ValueError as exc:
            message = str(exc)
            env = from_environment(mapping.from_env.get(key))
            if env:
                message = hide_env_value(message, mapping[key])
            self.add(
                mapping.value_mark(key), f"{label or key}: {message}{quoted_hint(mapping[key], parse, env)}"
            )
            return default

    def raise_if_any(self) -> None:
        if self.items:
            raise ConfigError(list(self.items))
