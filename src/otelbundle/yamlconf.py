"""YAML loading that remembers where every value came from.

Every config problem must be reported as ``file:line:column: message``, so the
loader keeps a :class:`Mark` for each mapping key, value and list item. It also
performs the collector's ``${env:NAME}`` / ``${env:NAME:-default}`` substitution
on scalar values *after* parsing, so an environment variable can never inject
YAML structure.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any, NamedTuple

import yaml


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


class YamlMap(dict[str, Any]):
    """A mapping that knows the position of itself, each key and each value."""

    mark: Mark
    key_marks: dict[str, Mark]
    value_marks: dict[str, Mark]

    def key_mark(self, key: str) -> Mark:
        return self.key_marks.get(key, self.mark)

    def value_mark(self, key: str) -> Mark:
        return self.value_marks.get(key, self.key_mark(key))


class YamlList(list[Any]):
    """A list that knows the position of itself and each item."""

    mark: Mark
    item_marks: list[Mark]

    def item_mark(self, index: int) -> Mark:
        return self.item_marks[index] if 0 <= index < len(self.item_marks) else self.mark


def mark_of(value: Any, fallback: Mark) -> Mark:
    """The position of a loaded container, or ``fallback`` for scalars."""
    return value.mark if isinstance(value, (YamlMap, YamlList)) else fallback


_ENV_REF = re.compile(r"\$\{env:([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}")
_DOLLAR_ESCAPE = "$$"


@dataclass
class Document:
    """A loaded file: its root value plus every env variable it named but the environment lacked."""

    root: Any
    path: str
    missing_env: list[tuple[str, Mark]] = field(default_factory=list)


def substitute_env(text: str, env: Mapping[str, str]) -> tuple[str, list[str]]:
    """Replace ``${env:NAME}`` and ``${env:NAME:-default}``; ``$$`` escapes a literal ``$``.

    Returns the new text and the names that were unset and had no default.
    """
    missing: list[str] = []

    def repl(match: re.Match[str]) -> str:
        name, default = match.group(1), match.group(2)
        value = env.get(name)
        if value is None or (value == "" and default is not None):
            if default is None:
                missing.append(name)
                return ""
            return default
        return value

    parts = text.split(_DOLLAR_ESCAPE)
    return "$".join(_ENV_REF.sub(repl, part) for part in parts), missing


def _mark(file: str, node: yaml.Node) -> Mark:
    return Mark(file, node.start_mark.line + 1, node.start_mark.column + 1)


class _Builder:
    """Turns a composed YAML node tree into YamlMap/YamlList/scalars."""

    def __init__(self, file: str, env: Mapping[str, str]) -> None:
        self.file = file
        self.env = env
        self.missing: list[tuple[str, Mark]] = []
        self.problems: list[ConfigProblem] = []
        self._constructor = yaml.SafeLoader("")

    def build(self, node: yaml.Node) -> Any:
        if isinstance(node, yaml.MappingNode):
            return self._mapping(node)
        if isinstance(node, yaml.SequenceNode):
            out = YamlList(self.build(item) for item in node.value)
            out.mark = _mark(self.file, node)
            out.item_marks = [_mark(self.file, item) for item in node.value]
            return out
        assert isinstance(node, yaml.ScalarNode)
        return self._scalar(node)

    def _mapping(self, node: yaml.MappingNode) -> YamlMap:
        out = YamlMap()
        out.mark = _mark(self.file, node)
        out.key_marks, out.value_marks = {}, {}
        for key_node, value_node in node.value:
            key_mark = _mark(self.file, key_node)
            if not isinstance(key_node, yaml.ScalarNode):
                self.problems.append(ConfigProblem(key_mark, "mapping keys must be plain strings"))
                continue
            key = str(key_node.value)
            if key in out:
                self.problems.append(ConfigProblem(key_mark, f"duplicate key {key!r}"))
                continue
            out[key] = self.build(value_node)
            out.key_marks[key] = key_mark
            out.value_marks[key] = _mark(self.file, value_node)
        return out

    def _scalar(self, node: yaml.ScalarNode) -> Any:
        raw = node.value
        if node.style is None and "${env:" not in raw:
            return self._constructor.construct_object(node, deep=True)
        if "${env:" not in raw and "$$" not in raw:
            return raw
        text, missing = substitute_env(raw, self.env)
        self.missing.extend((name, _mark(self.file, node)) for name in missing)
        whole_ref = _ENV_REF.fullmatch(raw) is not None
        if whole_ref and node.style is None and text != "":
            # As in the collector: a value that is exactly one reference takes the
            # type the substituted text has in YAML (so `${env:PORT}` can be an int),
            # but only scalars: an env value can never become a mapping or list.
            try:
                typed = yaml.safe_load(text)
            except yaml.YAMLError:
                return text
            if isinstance(typed, (bool, int, float)):
                return typed
        return text


def load_text(text: str, path: str, env: Mapping[str, str] | None = None) -> Document:
    """Parse YAML text; raise :class:`ConfigError` with positions for syntax and key problems."""
    environment = os.environ if env is None else env
    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        where = Mark(path, mark.line + 1, mark.column + 1) if mark else Mark(path, 1, 1)
        raise ConfigError([ConfigProblem(where, f"YAML syntax error: {exc.problem or exc}")]) from None
    except yaml.YAMLError as exc:
        raise ConfigError([ConfigProblem(Mark(path, 1, 1), f"YAML error: {exc}")]) from None
    if node is None:
        return Document(root=None, path=path)
    builder = _Builder(path, environment)
    root = builder.build(node)
    if builder.problems:
        raise ConfigError(builder.problems)
    return Document(root=root, path=path, missing_env=builder.missing)


def load_file(path: str, env: Mapping[str, str] | None = None) -> Document:
    """Read and parse a YAML file; unreadable files become a ConfigError naming the path."""
    try:
        with open(path, encoding="utf-8") as handle:
            text = handle.read()
    except OSError as exc:
        raise ConfigError(
            [ConfigProblem(Mark(path, 1, 1), f"cannot read file: {exc.strerror or exc}")]
        ) from None
    except UnicodeDecodeError as exc:
        raise ConfigError(
            [ConfigProblem(Mark(path, 1, 1), f"file is not UTF-8 text: {exc.reason}")]
        ) from None
    return load_text(text, path, env)


def unknown_keys(mapping: YamlMap, allowed: set[str] | frozenset[str], where: str) -> Iterator[ConfigProblem]:
    """Problems for every key of ``mapping`` not in ``allowed``, with a did-you-mean hint."""
    import difflib

    for key in mapping:
        if key not in allowed:
            close = difflib.get_close_matches(key, sorted(allowed), n=1)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            yield ConfigProblem(mapping.key_mark(key), f"unknown key {key!r} in {where}{hint}")
