"""YAML loading that remembers where every value came from, and never raises anything but ConfigError.

Every config problem must be reported as ``file:line:column: message``, so the
loader keeps a :class:`Mark` for each mapping key, value and list item, and which
values came from ``${env:...}`` references (see :mod:`otelbundle.config.substitution`).

Only plain YAML data is accepted: strings, numbers, booleans, null, mappings and
lists. Anchors, aliases and ``<<`` merge keys work; any other tag (``!1s``,
``!!python/...``, ``!!set``) is a located problem, as are recursive aliases and
documents that expand past :data:`MAX_VALUES` values (an alias bomb).
"""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

import yaml

from otelbundle.config.problems import ConfigError, ConfigProblem, Mark, unset_variable
from otelbundle.config.substitution import (
    ENV_REF,
    malformed_ref_message,
    malformed_refs,
    substitute_env,
)

MAX_VALUES = 100_000
# PyYAML composes a whole document before a value is counted: ~0.6 s and ~12 MB per MB of
# text, on the thread that starts the app. Config and rule files are kilobytes.
MAX_FILE_BYTES = 2 * 1024 * 1024
_CORE = "tag:yaml.org,2002:"
_SCALAR_TAGS = {f"{_CORE}{name}" for name in ("str", "int", "float", "bool", "null")}
_AS_TEXT_TAGS = {f"{_CORE}timestamp"}  # `2026-01-01` stays the text the user wrote
_MERGE = f"{_CORE}merge"


class YamlMap(dict[str, Any]):
    """A mapping that knows the position of itself, each key and each value.

    ``from_env`` maps each key whose value contained ``${env:...}`` to the
    variables that were unset (an empty tuple when all were set), and each key
    whose value holds a reference in another syntax (``${TOKEN}``) to that text
    (an entry starting with ``${``). ``scalar_texts`` keeps the text of each value
    YAML read as a number or boolean (see :meth:`written`); ``env_texts`` the text
    of each value with an ``${env:...}``, as written, before substitution: a field
    that only the environment may hold refuses a default or text around it.
    """

    mark: Mark
    key_marks: dict[str, Mark]
    value_marks: dict[str, Mark]
    from_env: dict[str, tuple[str, ...]]
    scalar_texts: dict[str, str]
    env_texts: dict[str, str]

    def key_mark(self, key: str) -> Mark:
        return self.key_marks.get(key, self.mark)

    def value_mark(self, key: str) -> Mark:
        return self.value_marks.get(key, self.key_mark(key))

    def written(self, key: str) -> str | None:
        """The text of a scalar value as written (``0x10``, ``010``, ``yes``, ``1_000``), when YAML
        read it as a number or boolean; None for any other value.

        A field that takes text reads this, not ``str()`` of the number: Prometheus (Go yaml)
        keeps the scalar's text for a string field, so ``code: 010`` is the label ``"010"``,
        not ``"8"``.
        """
        value = self.get(key)
        if isinstance(value, (bool, int, float)):  # not a value set since it was read
            return self.scalar_texts.get(key)
        return None


class YamlList(list[Any]):
    """A list that knows the position of itself and each item (and, like YamlMap, env-derived items)."""

    mark: Mark
    item_marks: list[Mark]
    item_from_env: dict[int, tuple[str, ...]]

    def item_mark(self, index: int) -> Mark:
        return self.item_marks[index] if 0 <= index < len(self.item_marks) else self.mark


def new_map(mark: Mark) -> YamlMap:
    out = YamlMap()
    out.mark, out.key_marks, out.value_marks, out.from_env = mark, {}, {}, {}
    out.scalar_texts, out.env_texts = {}, {}
    return out


def new_list(mark: Mark) -> YamlList:
    out = YamlList()
    out.mark, out.item_marks, out.item_from_env = mark, [], {}
    return out


def mark_of(value: Any, fallback: Mark) -> Mark:
    """The position of a loaded container, or ``fallback`` for scalars."""
    return value.mark if isinstance(value, (YamlMap, YamlList)) else fallback


def unset_env_problems(value: Any, *, skip: frozenset[str] = frozenset()) -> Iterator[ConfigProblem]:
    """Problems for every unset variable referenced in ``value`` (a loaded map, list or scalar)."""
    if isinstance(value, YamlMap):
        for key, item in value.items():
            if key in skip:
                continue
            for name in value.from_env.get(key, ()):
                yield ConfigProblem(value.value_mark(key), _env_problem(name))
            yield from unset_env_problems(item)
    elif isinstance(value, YamlList):
        for index, item in enumerate(value):
            for name in value.item_from_env.get(index, ()):
                yield ConfigProblem(value.item_mark(index), _env_problem(name))
            yield from unset_env_problems(item)


def _env_problem(name: str) -> str:
    """An unset variable, or (starting with ``${``) a reference in another syntax."""
    return malformed_ref_message(name) if name.startswith("${") else unset_variable(name)


@dataclass
class Document:
    """A loaded file: its root value plus every env variable it named but the environment lacked."""

    root: Any
    path: str
    missing_env: list[tuple[str, Mark]] = field(default_factory=list)


def _mark(file: str, node: yaml.Node) -> Mark:
    """Where ``node`` starts; for a quoted scalar, its first character inside the quote, so
    a problem found at an offset in the text (a where: condition, a template) lands on it."""
    quoted = isinstance(node, yaml.ScalarNode) and node.style in ("'", '"')
    return Mark(file, node.start_mark.line + 1, node.start_mark.column + 1 + quoted)


class _TooLarge(Exception):
    def __init__(self, mark: Mark) -> None:
        self.mark = mark


class _Builder:
    """Turns a composed YAML node tree into YamlMap/YamlList/scalars, collecting problems."""

    def __init__(self, file: str, env: Mapping[str, str]) -> None:
        self.file = file
        self.env = env
        self.missing: list[tuple[str, Mark]] = []
        self.problems: list[ConfigProblem] = []
        self._constructor = yaml.SafeLoader("")
        self._active: set[int] = set()  # nodes being built: seeing one again is a recursive alias
        self._count = 0

    def build(self, node: yaml.Node) -> Any:
        value, _ = self._build(node)
        return value

    def _build(self, node: yaml.Node) -> tuple[Any, tuple[str, ...] | None]:
        """The value and, for a scalar with ``${env:...}``, the variables that were unset."""
        self._count += 1
        if self._count > MAX_VALUES:
            raise _TooLarge(_mark(self.file, node))
        if isinstance(node, yaml.ScalarNode):
            return self._scalar(node)
        if id(node) in self._active:
            self.problems.append(ConfigProblem(_mark(self.file, node), "recursive alias"))
            return None, None
        expected = f"{_CORE}map" if isinstance(node, yaml.MappingNode) else f"{_CORE}seq"
        if node.tag != expected:
            self.problems.append(ConfigProblem(_mark(self.file, node), f"unsupported YAML tag {node.tag!r}"))
            return None, None
        self._active.add(id(node))
        try:
            if isinstance(node, yaml.MappingNode):
                return self._mapping(node), None
            assert isinstance(node, yaml.SequenceNode)
            return self._sequence(node), None
        finally:
            self._active.discard(id(node))

    def _sequence(self, node: yaml.SequenceNode) -> YamlList:
        out = new_list(_mark(self.file, node))
        for item in node.value:
            value, env = self._build(item)
            if env is not None:
                out.item_from_env[len(out)] = env
            out.append(value)
            out.item_marks.append(_mark(self.file, item))
        return out

    def _mapping(self, node: yaml.MappingNode) -> YamlMap:
        out = new_map(_mark(self.file, node))
        merges: list[yaml.Node] = []
        for key_node, value_node in node.value:
            key_mark = _mark(self.file, key_node)
            if key_node.tag == _MERGE:
                merges.append(value_node)
                continue
            if not isinstance(key_node, yaml.ScalarNode):
                self.problems.append(ConfigProblem(key_mark, "mapping keys must be plain strings"))
                continue
            key = str(key_node.value)
            if key in out:
                self.problems.append(ConfigProblem(key_mark, f"duplicate key {key!r}"))
                continue
            value, env = self._build(value_node)
            out[key] = value
            out.key_marks[key] = key_mark
            out.value_marks[key] = _mark(self.file, value_node)
            if env is not None:
                out.from_env[key] = env
            text = _typed_text(value_node, value)
            if text is not None:
                out.scalar_texts[key] = text
            if isinstance(value_node, yaml.ScalarNode) and "${env:" in value_node.value:
                out.env_texts[key] = str(value_node.value)
        for merge in merges:  # `<<: *base` or `<<: [*a, *b]`: keys written here win
            sources = merge.value if isinstance(merge, yaml.SequenceNode) else [merge]
            for source in sources:
                merged, _ = self._build(source)
                if not isinstance(merged, YamlMap):
                    self.problems.append(
                        ConfigProblem(_mark(self.file, source), "'<<' must merge a mapping or a list of them")
                    )
                    continue
                for key, value in merged.items():
                    if key not in out:
                        out[key] = value
                        out.key_marks[key] = merged.key_mark(key)
                        out.value_marks[key] = merged.value_mark(key)
                        if key in merged.from_env:
                            out.from_env[key] = merged.from_env[key]
                        if key in merged.scalar_texts:
                            out.scalar_texts[key] = merged.scalar_texts[key]
                        if key in merged.env_texts:
                            out.env_texts[key] = merged.env_texts[key]
        return out

    def _scalar(self, node: yaml.ScalarNode) -> tuple[Any, tuple[str, ...] | None]:
        raw = node.value
        mark = _mark(self.file, node)
        if node.tag in _AS_TEXT_TAGS:
            return raw, None
        if node.tag not in _SCALAR_TAGS:
            self.problems.append(
                ConfigProblem(mark, f"unsupported YAML tag {node.tag!r}; write the value without a tag")
            )
            return None, None
        malformed = tuple(malformed_refs(raw)) if "${" in raw else ()
        if "${env:" not in raw:
            if node.style is not None or node.tag == f"{_CORE}str":
                return raw.replace("$$", "$") if "$$" in raw else raw, malformed or None
            try:
                return self._constructor.construct_object(node, deep=True), None
            except (yaml.YAMLError, ValueError, OverflowError) as exc:
                self.problems.append(
                    ConfigProblem(mark, f"{raw!r} is not a valid {node.tag[len(_CORE) :]}: {exc}")
                )
                return None, None
        text, missing = substitute_env(raw, self.env)
        self.missing.extend((name, mark) for name in missing)
        env = (*missing, *malformed)
        if ENV_REF.fullmatch(raw) is not None and node.style is None:
            # As in the collector: a value that is exactly one reference takes the
            # type of the substituted text (so `${env:PORT}` can be an int), but only
            # scalars: an env value can never become a mapping or list.
            typed = as_written(text)
            if typed is not None:
                return typed, env
        return text, env


def _typed_text(node: yaml.Node, value: Any) -> str | None:
    """The text of a plain scalar YAML read as a number or boolean (``0x10``, ``yes``); None
    otherwise. A value from ``${env:...}`` is typed only when it round-trips (:func:`as_written`),
    so its ``str()`` is already its text."""
    if not isinstance(node, yaml.ScalarNode) or not isinstance(value, (bool, int, float)):
        return None
    return None if "${env:" in node.value else str(node.value)


def as_written(text: str) -> bool | int | float | None:
    """The number or boolean ``text`` is, only when it is written as that value is.

    YAML 1.1 reads ``1.10`` as 1.1, ``0123`` as 83, ``on`` as true and ``12:30`` as 750:
    a version label, a password or a header value taken from the environment would be
    rewritten, and a string field reads ``str()`` of the number. Such text stays as written.
    """
    try:
        typed = yaml.safe_load(text)
    except (yaml.YAMLError, ValueError, OverflowError, RecursionError):
        return None
    if isinstance(typed, bool):
        return typed if text.lower() in ("true", "false") else None
    if isinstance(typed, int):
        return typed if str(typed) == text else None
    if isinstance(typed, float):
        return typed if repr(typed) == text else None
    return None


_UNQUOTED_REF_HINT = (
    " (inside {...} or [...] a ${env:...} must be quoted, and is then read as text: "
    '"${env:URL}"; for a number or boolean write the mapping one key a line: port: ${env:PORT})'
)


_SECOND_DOCUMENT = (
    "a second YAML document starts here ('---'): the file is read as one document; "
    "remove the '---' line, or put the sections of both parts in one"
)


def _at_unquoted_ref(mark: yaml.Mark | None) -> bool:
    """Whether the parser stopped at the ``{`` of an unquoted ``${`` in a flow collection:
    ``{port: ${env:PORT}}`` is a syntax error (``expected ',' or '}', but got '{'``) that does
    not say the reference is the cause, and a newcomer writes it when copying an example."""
    if mark is None or mark.buffer is None or mark.pointer < 1:
        return False
    return bool(mark.buffer[mark.pointer - 1 : mark.pointer + 1] == "${")


def load_text(text: str, path: str, env: Mapping[str, str] | None = None) -> Document:
    """Parse YAML text; raise :class:`ConfigError` with positions for every problem found."""
    environment = os.environ if env is None else env
    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        where = Mark(path, mark.line + 1, mark.column + 1) if mark else Mark(path, 1, 1)
        if exc.problem == "but found another document":  # a second '---': which we do not read
            raise ConfigError([ConfigProblem(where, _SECOND_DOCUMENT)]) from None
        hint = _UNQUOTED_REF_HINT if _at_unquoted_ref(exc.problem_mark) else ""
        raise ConfigError([ConfigProblem(where, f"YAML syntax error: {exc.problem or exc}{hint}")]) from None
    except yaml.YAMLError as exc:
        raise ConfigError([ConfigProblem(Mark(path, 1, 1), f"YAML error: {exc}")]) from None
    except RecursionError:
        raise ConfigError([ConfigProblem(Mark(path, 1, 1), "YAML nesting is too deep")]) from None
    if node is None:
        return Document(root=None, path=path)
    builder = _Builder(path, environment)
    try:
        root = builder.build(node)
    except _TooLarge as exc:
        message = f"the document expands to more than {MAX_VALUES} values (too many aliases?)"
        raise ConfigError([*builder.problems, ConfigProblem(exc.mark, message)]) from None
    except RecursionError:
        raise ConfigError([ConfigProblem(Mark(path, 1, 1), "YAML nesting is too deep")]) from None
    if builder.problems:
        raise ConfigError(builder.problems)
    return Document(root=root, path=path, missing_env=builder.missing)


def _open_nonblocking(path: str, flags: int) -> int:
    return os.open(path, flags | os.O_NONBLOCK)


def load_file(path: str, env: Mapping[str, str] | None = None) -> Document:
    """Read and parse a YAML file; unreadable files become a ConfigError naming the path.

    Only a regular file of at most :data:`MAX_FILE_BYTES` is read: a FIFO or ``/dev/stdin``
    would block the app's start, ``/dev/zero`` or a huge file would hold it and its memory.
    """
    try:
        # Non-blocking: opening a FIFO would otherwise wait for a writer.
        with open(path, "rb", opener=_open_nonblocking) as handle:
            mode = os.fstat(handle.fileno()).st_mode
            if not stat.S_ISREG(mode):
                kind = "Is a directory" if stat.S_ISDIR(mode) else "not a regular file"
                raise ConfigError([ConfigProblem(Mark(path, 1, 1), f"cannot read file: {kind}")])
            data = handle.read(MAX_FILE_BYTES + 1)
    except OSError as exc:
        raise ConfigError(
            [ConfigProblem(Mark(path, 1, 1), f"cannot read file: {exc.strerror or exc}")]
        ) from None
    if len(data) > MAX_FILE_BYTES:
        message = f"file is larger than {MAX_FILE_BYTES // (1024 * 1024)} MiB; not read"
        raise ConfigError([ConfigProblem(Mark(path, 1, 1), message)])
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:  # where, as an editor counts: a Latin-1 'é' pasted into a comment
        line = data.count(b"\n", 0, exc.start) + 1
        column = len(data[data.rfind(b"\n", 0, exc.start) + 1 : exc.start].decode("utf-8", "replace")) + 1
        problem = f"file is not UTF-8 text: byte 0x{data[exc.start]:02x} ({exc.reason})"
        raise ConfigError([ConfigProblem(Mark(path, line, column), problem)]) from None
    # Line ends as text mode reads them (universal newlines): a file saved on Windows reads the same.
    return load_text(text.replace("\r\n", "\n").replace("\r", "\n"), path, env)
