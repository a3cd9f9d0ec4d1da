"""Moved to :mod:`otelbundle.config`; these names stay importable for modules not yet switched."""

from otelbundle.config import (
    ConfigError,
    ConfigProblem,
    Document,
    Mark,
    YamlList,
    YamlMap,
    load_file,
    load_text,
    mark_of,
    substitute_env,
    unknown_keys,
)

__all__ = [
    "ConfigError",
    "ConfigProblem",
    "Document",
    "Mark",
    "YamlList",
    "YamlMap",
    "load_file",
    "load_text",
    "mark_of",
    "substitute_env",
    "unknown_keys",
]
