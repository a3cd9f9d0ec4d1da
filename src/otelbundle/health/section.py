"""The ``health:`` section of ``otelbundle.yaml``, read through :mod:`otelbundle.config`.

Every problem is collected (not just the first) and reported as
``file:line:column: message``; a section with any problem starts no checks.
A ``python`` check's module is looked up on ``sys.path`` as it is when the check
runs: the commands put the current directory first, as ``python -m`` and the
app started from its project folder do.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from otelbundle.config import (
    ConfigError,
    ConfigProblem,
    Mark,
    Problems,
    YamlList,
    YamlMap,
    parse_duration,
    unknown_keys,
)
from otelbundle.config.document import ConfigDocument, read_document, register_section
from otelbundle.config.report import log_problems
from otelbundle.health.check_kinds import BUILDERS, KIND_KEYS
from otelbundle.health.checks import Check, CheckSpec, SystemReader
from otelbundle.health.field_values import (
    Getter,
    check_name,
    flag,
    host_name,
    interval_value,
    port_number,
)

SECTION = "health"
register_section(SECTION)
DEFAULT_INTERVAL_S = 15.0
DEFAULT_TIMEOUT_S = 5.0
KINDS = ("system", "tcp", "http", "sql", "python")

_SECTION_KEYS = frozenset({"interval", "timeout", "checks", "http"})
_COMMON_KEYS = frozenset({"name", "kind", "interval", "timeout", "readiness"})


@dataclass
class HttpEndpoint:
    host: str = "127.0.0.1"
    port: int = 0
    # Where host and port are written: a port another process holds, or a host this
    # machine has no address for, is found only when the app starts to listen.
    host_mark: Mark | None = field(default=None, compare=False)
    port_mark: Mark | None = field(default=None, compare=False)


@dataclass
class HealthConfig:
    checks: list[Check] = field(default_factory=list)
    http: HttpEndpoint | None = None


def read_health_section(
    document: ConfigDocument, reader: SystemReader | None = None
) -> tuple[HealthConfig | None, list[ConfigProblem]]:
    """(config, problems) of the document's ``health:`` section; config is None when there is none.

    A file that cannot be read or parsed gives its problems: no checks start.
    """
    section, problems = document.mapping_section(
        SECTION,
        "health must be a mapping with a 'checks' list",
        empty_is_absent=False,  # `health:` alone is a mistake: it names no checks
        unset_env_first=True,
    )
    if section is None:  # a section that is not a mapping reads as no checks, with its problem
        return (HealthConfig() if problems and not document.problems else None), problems
    return parse_section(section, problems, reader), problems


def read_health_config(
    path: str, reader: SystemReader | None = None, env: Mapping[str, str] | None = None
) -> tuple[HealthConfig | None, list[ConfigProblem]]:
    """:func:`read_health_section` of the file at ``path`` (the check commands, tests); never raises.

    ``env`` (default: ``os.environ``) is what ``${env:...}`` reads, as for the other sections.
    """
    return read_health_section(read_document(path, env), reader)


def load_health_config(
    path: str, reader: SystemReader | None = None, env: Mapping[str, str] | None = None
) -> tuple[HealthConfig | None, list[ConfigProblem]]:
    """Like :func:`read_health_config`, but raises ConfigError (with positions) when the file
    itself cannot be read or parsed."""
    document = read_document(path, env)
    if document.root is None and document.problems:
        raise ConfigError(document.problems)
    return read_health_section(document, reader)


def health_config_at_start(
    document: ConfigDocument, reader: SystemReader | None = None
) -> HealthConfig | None:
    """What the instrumentor starts with: problems are logged (one line each) and mean no health checks."""
    config, problems = read_health_section(document, reader)
    if log_problems(problems, "health checks are off because of {n} problem(s) in the configuration"):
        return None
    return config


def parse_section(
    section: YamlMap, problems: list[ConfigProblem], reader: SystemReader | None = None
) -> HealthConfig:
    config = HealthConfig()
    problems.extend(unknown_keys(section, _SECTION_KEYS, "health"))
    get = Problems(problems)
    interval = get.value(section, "interval", interval_value, DEFAULT_INTERVAL_S)
    # None: not written, so each check's default is 5s or its interval when shorter.
    timeout: float | None = get.value(section, "timeout", parse_duration, None)
    inherited = _Inherited(timeout, section.value_mark("timeout") if "timeout" in section else section.mark)
    if "http" in section:
        config.http = _parse_http(section["http"], section.value_mark("http"), problems)
    checks = section.get("checks")
    if not isinstance(checks, YamlList) or not checks:
        problems.append(
            ConfigProblem(
                section.value_mark("checks") if "checks" in section else section.mark,
                "health.checks must be a non-empty list of checks",
            )
        )
        return config
    seen: dict[str, Mark] = {}
    for index, item in enumerate(checks):
        where = checks.item_mark(index)
        if not isinstance(item, YamlMap):
            problems.append(ConfigProblem(where, "each check must be a mapping with name and kind"))
            continue
        name = item.get("name")
        if isinstance(name, str) and name in seen:
            problems.append(
                ConfigProblem(
                    item.value_mark("name"), f"duplicate check name {name!r} (first at {seen[name]})"
                )
            )
            _parse_check(item, interval, inherited, problems, reader)  # its other problems too, in one pass
            continue
        if isinstance(name, str):
            seen[name] = item.value_mark("name")
        check = _parse_check(item, interval, inherited, problems, reader)
        if check is None:
            continue
        config.checks.append(check)
    return config


def _parse_http(value: Any, mark: Mark, problems: list[ConfigProblem]) -> HttpEndpoint | None:
    if not isinstance(value, YamlMap):
        problems.append(ConfigProblem(mark, "health.http must be a mapping like {port: 8081}"))
        return None
    problems.extend(unknown_keys(value, {"host", "port"}, "health.http"))
    get = Getter(value, problems)
    port = get.value("port", port_number, None, required=True)
    host = get.value("host", host_name, "127.0.0.1")
    if port is None:
        return None
    host_mark = value.value_mark("host") if "host" in value else None
    return HttpEndpoint(host, port, host_mark, value.value_mark("port"))


@dataclass(frozen=True)
class _Inherited:
    """``health.timeout`` (None: not written) and where it is written."""

    timeout: float | None
    mark: Mark


def _parse_check(
    item: YamlMap,
    interval: float,
    inherited: _Inherited,
    problems: list[ConfigProblem],
    reader: SystemReader | None,
) -> Check | None:
    get = Getter(item, problems)
    name = get.value("name", check_name, None, required=True)
    kind = item.get("kind")
    if kind not in KINDS:
        where = item.value_mark("kind") if "kind" in item else item.mark
        problems.append(
            ConfigProblem(
                where,
                f"unknown check kind {kind!r}; use one of {', '.join(KINDS)}"
                if "kind" in item
                else "check has no 'kind'",
            )
        )
        return None
    problems.extend(unknown_keys(item, _COMMON_KEYS | KIND_KEYS[kind], f"a {kind} check"))
    interval_s = get.value("interval", interval_value, interval)
    # A timeout nobody wrote never exceeds the interval: `interval: 2s` alone is valid.
    timeout = inherited.timeout
    default_timeout = timeout if timeout is not None else min(DEFAULT_TIMEOUT_S, interval_s)
    spec = CheckSpec(
        name=name or "",
        kind=kind,
        interval_s=interval_s,
        timeout_s=get.value("timeout", parse_duration, default_timeout),
        readiness=get.value("readiness", flag, True),
    )
    before = len(problems)
    check = BUILDERS[kind](spec, item, get, problems, reader)
    if spec.timeout_s > spec.interval_s:
        problem = ConfigProblem(
            _longer_timeout_mark(item, inherited),
            f"timeout ({spec.timeout_s:g}s) is longer than interval ({spec.interval_s:g}s)",
        )
        if problem not in problems:  # health.timeout inherited by every check: said once, there
            problems.append(problem)
        return None
    return check if name and len(problems) == before else None


def _longer_timeout_mark(item: YamlMap, inherited: _Inherited) -> Mark:
    """Where a timeout longer than its interval was written: the check's own ``timeout``, else
    its own (shorter) ``interval``, else ``health.timeout`` against ``health.interval``."""
    for key in ("timeout", "interval"):
        if key in item:
            return item.value_mark(key)
    return inherited.mark
