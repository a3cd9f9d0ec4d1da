"""The one configuration layer of otelbundle: how a config value is read and how a mistake is reported.

- :mod:`~otelbundle.config.loader`: YAML with a position for every value; only
  plain data (tags, recursive aliases and alias bombs are located problems).
- :mod:`~otelbundle.config.substitution`: the ``${env:NAME}`` / ``${env:NAME:-default}`` policy.
- :mod:`~otelbundle.config.values`: durations, percentages, numbers, counts.
- :mod:`~otelbundle.config.problems`: :class:`ConfigProblem` (``file:line:col: message``),
  :class:`Problems` (collect all of them, did-you-mean for unknown keys) and
  :class:`ConfigError`, the only error type.
- :mod:`~otelbundle.config.report`: the ``otelbundle.config`` logger used at start.
- :mod:`~otelbundle.cli.checks`: every section of ``otelbundle.yaml`` in one report.

Each subsystem declares its own section (alerting/config.py, health/config.py,
alerting/notify/channels.py, scrub/config.py) with these pieces.
"""

from otelbundle.config.loader import (
    Document,
    YamlList,
    YamlMap,
    load_file,
    load_text,
    mark_of,
    new_list,
    new_map,
)
from otelbundle.config.problems import ConfigError, ConfigProblem, Mark, in_file_order
from otelbundle.config.reader import Problems, did_you_mean, unknown_keys
from otelbundle.config.substitution import substitute_env
from otelbundle.config.values import (
    DURATION_RE,
    MAX_DURATION_SECONDS,
    format_duration,
    parse_count,
    parse_duration,
    parse_number,
    parse_percent,
)

__all__ = [
    "DURATION_RE",
    "MAX_DURATION_SECONDS",
    "ConfigError",
    "ConfigProblem",
    "Document",
    "Mark",
    "Problems",
    "YamlList",
    "YamlMap",
    "did_you_mean",
    "format_duration",
    "in_file_order",
    "load_file",
    "load_text",
    "mark_of",
    "new_list",
    "new_map",
    "parse_count",
    "parse_duration",
    "parse_number",
    "parse_percent",
    "substitute_env",
    "unknown_keys",
]
