"""Where a config value came from, what is wrong with it, and the one error type.

Every subsystem reports config mistakes the same way: a :class:`ConfigProblem`
(``file:line:column: message``), collected by a
:class:`~otelbundle.config.reader.Problems` so one run reports all of them.
:class:`ConfigError` carries a list of problems; it is the only exception the
configuration layer raises. This module imports nothing of otelbundle: the
loader and the readers build on it.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import NamedTuple


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


def in_file_order(problems: Iterable[ConfigProblem]) -> list[ConfigProblem]:
    """``problems`` as a reader goes through the files: by file (in the order the files were
    first named, so the config comes before the rule files it names), then line and column.

    Readers find problems key by key, not line by line (a rule's ``for:`` is read after its
    ``labels:``), and one list printed lines 5, 6, 7, 8, 11, 10, 9. Problems at one position
    keep the order they were found in (the sort is stable): the first is often the cause. A
    problem another one at its place already says is left out (``_said_again``)."""
    problems = list(problems)
    files: dict[str, int] = {}
    for problem in problems:
        files.setdefault(problem.mark.file, len(files))
    said = [p for p in problems if not _said_again(p, problems) and not _follows_from_env(p, problems)]
    return sorted(said, key=lambda p: (files[p.mark.file], p.mark.line, p.mark.column))


def _said_again(problem: ConfigProblem, problems: list[ConfigProblem]) -> bool:
    """An unset variable that another problem at the same place names with its consequence
    (``notify.webhook.url is empty: environment variable HOOK_URL is not set; ...``): one
    cause, said once."""
    if not (problem.message.startswith(UNSET_PREFIX) and problem.message.endswith(UNSET_SUFFIX)):
        return False
    return any(
        other.mark == problem.mark and other.message != problem.message and problem.message in other.message
        for other in problems
    )


def _follows_from_env(problem: ConfigProblem, problems: list[ConfigProblem]) -> bool:
    """A value's problem where its ``${env:...}`` reference already has one: the variable is
    unset (the value is empty) or the reference is not read (the value is its text), so
    ``url: expected an http:// or https:// URL`` only repeats the cause, and counted it twice.
    Kept when it names the cause itself (then the bare cause is the one left out)."""
    if _is_env_problem(problem.message):
        return False
    causes = [o.message for o in problems if o.mark == problem.mark and _is_env_problem(o.message)]
    # Kept when it names one of them (an unset variable said with its field and consequence):
    # the bare cause it names is then the one left out (_said_again), and must not be lost.
    return bool(causes) and not any(cause in problem.message for cause in causes)


def _is_env_problem(message: str) -> bool:
    return (
        message.startswith(UNSET_PREFIX) and message.endswith(UNSET_SUFFIX)
    ) or NOT_READ_AS_VARIABLE in message


UNSET_PREFIX, UNSET_SUFFIX = "environment variable ", " is not set"
# How a reference in another syntax (``${URL:-x}``) is said (substitution.malformed_ref_message).
NOT_READ_AS_VARIABLE = " is not read as a variable: write "


def unset_variable(name: str) -> str:
    """How an unset ``${env:NAME}`` is said, here and in the problems that follow from it."""
    return f"{UNSET_PREFIX}{name}{UNSET_SUFFIX}"
