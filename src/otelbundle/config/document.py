"""``otelbundle.yaml`` read once per process, and the sections that may appear in it.

The configurator reads the file once at start (:func:`read_at_start`) and hands
each subsystem its section; the health instrumentor, loaded later by
``opentelemetry-instrument``, takes the same :class:`ConfigDocument`
(:func:`started_with`) instead of opening the file again. The check commands
read a document with :func:`read_document` and give it to the same section
readers, so a check says exactly what the app would switch off.

This layer imports no subsystem: each one declares its section name here
(:func:`register_section`), which is how an unknown top-level key is told from
a section whose module is installed.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from otelbundle.config import environment
from otelbundle.config.loader import YamlMap, load_file, unset_env_problems
from otelbundle.config.problems import ConfigError, ConfigProblem, Mark
from otelbundle.config.reader import unknown_keys
from otelbundle.config.report import diagnostics_logger, log_problems

_sections: list[str] = []
_lock = threading.Lock()
_started_with: ConfigDocument | None = None


def register_section(name: str) -> None:
    """Declare a top-level section (each subsystem's ``section.py`` does, on import)."""
    with _lock:
        if name not in _sections:
            _sections.append(name)


def section_names() -> list[str]:
    with _lock:
        return sorted(_sections)


@dataclass
class ConfigDocument:
    """One parse of the config file: its root mapping, or the problems of the file as a whole.

    ``problems`` are those no section can get past (unreadable, a YAML error, not a
    mapping); every section reader gives them as its own, so each part says what it
    switched off. ``root`` is None when there are such problems or the file is empty.
    """

    path: str
    root: YamlMap | None = None
    problems: list[ConfigProblem] = field(default_factory=list)

    def section(self, name: str) -> tuple[Any, Mark] | None:
        """The value of section ``name`` and where it is; None when the file has no such key."""
        if self.root is None or name not in self.root:
            return None
        return self.root[name], self.root.value_mark(name)

    def mapping_section(
        self, name: str, not_a_mapping: str, *, empty_is_absent: bool = True, unset_env_first: bool = False
    ) -> tuple[YamlMap | None, list[ConfigProblem]]:
        """Section ``name`` as the mapping its reader walks, or what keeps the reader from it.

        Every section reader starts so; one place keeps them saying the same. (None, the
        file's problems) when it could not be read or parsed; (None, []) when it has no such
        section, or (``empty_is_absent``) nothing under the name; (None, [``not_a_mapping``
        at the value]) for anything else that is not a mapping. ``unset_env_first``: unset
        ``${env:...}`` variables under the section come first, for any value (health's
        order; the other readers say them after their unknown keys).
        """
        if self.problems:
            return None, list(self.problems)
        found = self.section(name)
        if found is None:
            return None, []
        value, mark = found
        if value is None and empty_is_absent:
            return None, []
        problems = list(unset_env_problems(value)) if unset_env_first else []
        if not isinstance(value, YamlMap):
            return None, [*problems, ConfigProblem(mark, not_a_mapping)]
        return value, problems

    def unknown_sections(self) -> list[ConfigProblem]:
        """Top-level keys that name no registered section, with a did-you-mean hint."""
        if self.root is None:
            return []
        return list(unknown_keys(self.root, section_names(), "otelbundle.yaml"))


def read_document(path: str, env: Mapping[str, str] | None = None) -> ConfigDocument:
    """Open and parse ``path`` once; never raises (file problems are in ``problems``)."""
    try:
        root = load_file(path, env).root
    except ConfigError as exc:
        return ConfigDocument(path, problems=list(exc.problems))
    if root is None:
        return ConfigDocument(path)
    if not isinstance(root, YamlMap):
        names = ", ".join(section_names())
        message = f"the file must be a mapping of sections ({names})"
        return ConfigDocument(path, problems=[ConfigProblem(Mark(path, 1, 1), message)])
    return ConfigDocument(path, root=root)


def read_at_start(env: Mapping[str, str]) -> ConfigDocument | None:
    """The document this process runs with (OTELBUNDLE_CONFIG, else ./otelbundle.yaml), read once.

    None when there is no file; see :func:`open_at_start`.
    """
    path = environment.config_path(env)
    return open_at_start(path, env) if path is not None else None


def open_at_start(path: str, env: Mapping[str, str]) -> ConfigDocument | None:
    """Read ``path`` as the document of this process; :func:`started_with` gives it to later parts.

    None when the file cannot be read (said once: the parts that need it are off,
    telemetry continues). Unknown sections are reported here, once for the whole file.
    """
    global _started_with
    if not os.access(path, os.R_OK):
        reason = "does not exist" if not os.path.exists(path) else "is not readable"
        # Name the variable only when it is what named the file (else ./otelbundle.yaml was found).
        named = (
            f"OTELBUNDLE_CONFIG={path}"
            if environment.get(env, "OTELBUNDLE_CONFIG")
            else f"the config file {path}"
        )
        diagnostics_logger().error(
            "otelbundle: %s %s; alert rules and health checks are off, telemetry continues.", named, reason
        )
        return None
    document = read_document(path, env)
    log_problems(document.unknown_sections(), "unknown sections of the config file are ignored")
    with _lock:
        _started_with = document
    return document


def started_with(path: str | None = None) -> ConfigDocument | None:
    """The document :func:`read_at_start` read in this process (for ``path``, when given)."""
    document = _started_with
    if document is None or (path is not None and document.path != path):
        return None
    return document


def forget_started_with() -> None:
    """Tests: the next start reads the file again."""
    global _started_with
    with _lock:
        _started_with = None
