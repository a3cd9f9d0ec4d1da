"""Where a config value came from, what is wrong with it, and the one error type.

Every subsystem reports config mistakes the same way: a :class:`ConfigProblem`
(``file:line:column: message``) collected in a :class:`Problems`, so one run
reports all of them. :class:`ConfigError` carries a list of problems; it is the
only exception the configuration layer raises.
"""

from __future__ import annotations

import difflib
from collections.abc import Callable, Iterable, Iterator
from typing import TYPE_CHECKING, Any, NamedTuple, TypeVar

if TYPE_CHECKING:
    from otelbundle.config.loader import YamlMap

T = TypeVar("T")


class Mark(NamedTuple):
    """A position in a config file; line and column are 1-based as editors show them."""

    file: str
    line: int
    column: int

    def __str__(self) -> str:
        return f"{self.file}:{self.line}:{self.column}"


class ConfigProblem(NamedTuple):
    mark: Mark
    message: str

    def __str__(self) -> str:
        return f"{self.mark}: {self.message}"


class ConfigError(Exception):
    """One or more problems in config files; ``str()`` lists them one per line."""

    def __init__(self, problems: list[ConfigProblem]) -> None:
        self.problems = problems
        super().__init__("\n".join(str(p) for p in problems))


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
        from otelbundle.config.substitution import unset_env_problems

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
            self.add(mapping.value_mark(key), f"{label or key}: {exc}")
            return default

    def raise_if_any(self) -> None:
        if self.items:
            raise ConfigError(list(self.items))
