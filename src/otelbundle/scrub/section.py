"""The ``scrub:`` section of ``otelbundle.yaml`` and OTELBUNDLE_SCRUB, validated with positions.

Scrubbing is on unless OTELBUNDLE_SCRUB=false or ``scrub: {enabled: false}``.
A mistake in the section is reported as ``file:line:column: message`` and only
that entry is left out: a typo never turns scrubbing off.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field

from otelbundle.config import ConfigProblem, Mark, Problems, YamlList, YamlMap, environment, unknown_keys
from otelbundle.config.document import ConfigDocument, read_document, register_section
from otelbundle.config.reader import from_environment, quoted_hint
from otelbundle.config.regex_safety import BACKTRACKING_HINT, backtracking_hazard, compile_user_regex
from otelbundle.config.report import log_problems
from otelbundle.scrub.rules import param_names_pattern

SECTION = "scrub"
register_section(SECTION)
SECTION_KEYS = frozenset({"enabled", "extra_patterns", "extra_param_names", "allowed_keys"})
ENV_VAR = "OTELBUNDLE_SCRUB"


@dataclass
class ScrubSettings:
    enabled: bool = True
    extra_patterns: list[str] = field(default_factory=list)
    extra_param_names: list[str] = field(default_factory=list)
    allowed_keys: list[str] = field(default_factory=list)


def env_enabled(env: Mapping[str, str]) -> bool:
    """False only for an explicit false/0/no/off; anything else keeps scrubbing on."""
    return environment.get(env, ENV_VAR).lower() not in ("false", "0", "no", "off")


def read_scrub_section(
    document: ConfigDocument | None, env: Mapping[str, str]
) -> tuple[ScrubSettings, list[ConfigProblem]]:
    """Settings from the environment and the document's ``scrub:`` section (if any).

    A file that cannot be read or parsed leaves scrubbing at its defaults: that
    problem is the file's, reported once by the alert rules' reader.
    """
    settings = ScrubSettings(enabled=env_enabled(env))
    if document is None or document.problems:
        return settings, []
    section, problems = document.mapping_section(
        SECTION, "scrub must be a mapping (enabled, extra_patterns, ...)"
    )
    if section is None:  # no `scrub:`, or nothing under it: the defaults
        return settings, problems
    return parse_section(section, settings)


def load_scrub_settings(
    path: str | None, env: Mapping[str, str]
) -> tuple[ScrubSettings, list[ConfigProblem]]:
    """:func:`read_scrub_section` of the file at ``path`` (the check commands, tests)."""
    return read_scrub_section(read_document(path, env) if path else None, env)


def scrub_settings_at_start(document: ConfigDocument | None, env: Mapping[str, str]) -> ScrubSettings:
    """What the exporters start with: problems are logged (one line each) and only the
    entries they are in are left out."""
    settings, problems = read_scrub_section(document, env)
    log_problems(problems, "{n} problem(s) in scrub: those entries are ignored, the built-in rules apply")
    return settings


def parse_section(section: YamlMap, settings: ScrubSettings) -> tuple[ScrubSettings, list[ConfigProblem]]:
    problems: list[ConfigProblem] = []
    problems.extend(unknown_keys(section, SECTION_KEYS, "scrub"))
    Problems(problems).unset_env(section)
    if "enabled" in section:
        if isinstance(section["enabled"], bool):
            settings.enabled = settings.enabled and section["enabled"]
        else:
            hint = quoted_hint(
                section["enabled"], _boolean, from_environment(section.from_env.get("enabled"))
            )
            problems.append(
                ConfigProblem(section.value_mark("enabled"), f"scrub.enabled must be true or false{hint}")
            )
    for index, pattern, where in _strings(section, "extra_patterns", problems):
        try:
            compiled = compile_user_regex(pattern)
        except re.error as exc:
            problems.append(
                ConfigProblem(where, f"scrub.extra_patterns[{index}]: not a regular expression: {exc}")
            )
            continue
        # What it matches becomes REDACTED: an empty match puts the marker between every two
        # characters of every value (`GET /users/42` -> `REDACTEDGREDACTEDE...`).
        if matches_empty(compiled):
            problems.append(
                ConfigProblem(
                    where,
                    f"scrub.extra_patterns[{index}]: {pattern!r} can match an empty string, and each empty "
                    "match would become REDACTED: between every two characters of every value; "
                    "make it match at least one character (e.g. x+ for x*, \\d+ for \\d*)",
                )
            )
            continue
        # Scrubbing reads every exported value with this pattern, with the GIL held.
        hazard = backtracking_hazard(pattern)
        if hazard is not None:
            problems.append(
                ConfigProblem(where, f"scrub.extra_patterns[{index}]: {hazard[1]}; {BACKTRACKING_HINT}")
            )
            continue
        settings.extra_patterns.append(pattern)
    for index, name, where in _strings(section, "extra_param_names", problems):
        try:
            param_names_pattern([name])
        except ValueError as exc:
            problems.append(ConfigProblem(where, f"scrub.extra_param_names[{index}]: {exc}"))
            continue
        settings.extra_param_names.append(name)
    settings.allowed_keys.extend(key for _, key, _ in _strings(section, "allowed_keys", problems))
    return settings, problems


def matches_empty(compiled: re.Pattern[str]) -> bool:
    """Whether ``compiled`` can match an empty string anywhere: ``x*``, ``(?i)``, ``\\b``, ``^``,
    ``a|``, a look-ahead alone. From the shortest match Python's own parser gives; where that
    is not available, by trying values an empty match would show in."""
    parser = getattr(re, "_parser", None) or getattr(re, "sre_parse", None)  # 3.11+ / 3.10
    try:
        shortest = parser.parse(compiled.pattern, compiled.flags).getwidth()[0]  # type: ignore[union-attr]
    except Exception:  # a parser that is not there or not as expected: the probes decide
        return any(
            match.start() == match.end()
            for probe in ("", "a", "A", "0", " ", "-", "GET /users/42", "a b\n")
            for match in compiled.finditer(probe)
        )
    return int(shortest) == 0


def _boolean(value: object) -> bool:
    if not isinstance(value, bool):
        raise ValueError("must be true or false")
    return value


def _strings(section: YamlMap, key: str, problems: list[ConfigProblem]) -> list[tuple[int, str, Mark]]:
    if key not in section:
        return []
    items = section[key]
    if not isinstance(items, YamlList):
        problems.append(ConfigProblem(section.value_mark(key), f"scrub.{key} must be a list of strings"))
        return []
    result: list[tuple[int, str, Mark]] = []
    for index, item in enumerate(items):
        if not isinstance(item, str) or not item:
            problems.append(
                ConfigProblem(items.item_mark(index), f"scrub.{key}[{index}] must be a non-empty string")
            )
            continue
        result.append((index, item, items.item_mark(index)))
    return result
