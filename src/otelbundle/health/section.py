"""The ``health:`` section of ``otelbundle.yaml``, read through :mod:`otelbundle.config`.

Every problem is collected (not just the first) and reported as
``file:line:column: message``; a section with any problem starts no checks.
A ``python`` check's module is looked up on ``sys.path`` as it is when the check
runs: the commands put the current directory first, as ``python -m`` and the
app started from its project folder do.
"""

from __future__ import annotations

import importlib.util
import unicodedata
from collections.abc import Callable, Mapping
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
    parse_percent,
    unknown_keys,
)
from otelbundle.config.document import ConfigDocument, read_document, register_section
from otelbundle.config.report import log_problems
from otelbundle.health.checks import (
    SYSTEM_RESOURCES,
    Check,
    CheckSpec,
    PythonCheck,
    SystemCheck,
    SystemReader,
    TcpCheck,
)
from otelbundle.health.http_check import HttpCheck
from otelbundle.health.model import Thresholds
from otelbundle.health.sql_check import SQL_DRIVERS, SqlCheck

SECTION = "health"
register_section(SECTION)
DEFAULT_INTERVAL_S = 15.0
DEFAULT_TIMEOUT_S = 5.0
KINDS = ("system", "tcp", "http", "sql", "python")

_SECTION_KEYS = frozenset({"interval", "timeout", "checks", "http"})
_COMMON_KEYS = frozenset({"name", "kind", "interval", "timeout", "readiness"})
_KIND_KEYS: dict[str, frozenset[str]] = {
    "system": frozenset({"resource", "path", "warning", "critical", "hysteresis"}),
    "tcp": frozenset({"host", "port"}),
    "http": frozenset({"url", "expect_status", "body_contains", "method", "headers"}),
    "sql": frozenset({"driver", "dsn", "query"}),
    "python": frozenset({"function"}),
}


@dataclass
class HttpEndpoint:
    host: str = "127.0.0.1"
    port: int = 0


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
    if log_problems(problems, "health checks are off because of {n} problem(s) in the config"):
        return None
    return config


def parse_section(
    section: YamlMap, problems: list[ConfigProblem], reader: SystemReader | None = None
) -> HealthConfig:
    config = HealthConfig()
    problems.extend(unknown_keys(section, _SECTION_KEYS, "health"))
    get = Problems(problems)
    interval = get.value(section, "interval", parse_duration, DEFAULT_INTERVAL_S)
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
    get = _Getter(value, problems)
    port = get.value("port", _port, None, required=True)
    host = get.value("host", _text, "127.0.0.1")
    return HttpEndpoint(host, port) if port is not None else None


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
    get = _Getter(item, problems)
    name = get.value("name", _check_name, None, required=True)
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
    problems.extend(unknown_keys(item, _COMMON_KEYS | _KIND_KEYS[kind], f"a {kind} check"))
    interval_s = get.value("interval", parse_duration, interval)
    # A timeout nobody wrote never exceeds the interval: `interval: 2s` alone is valid.
    timeout = inherited.timeout
    default_timeout = timeout if timeout is not None else min(DEFAULT_TIMEOUT_S, interval_s)
    spec = CheckSpec(
        name=name or "",
        kind=kind,
        interval_s=interval_s,
        timeout_s=get.value("timeout", parse_duration, default_timeout),
        readiness=get.value("readiness", _bool, True),
    )
    before = len(problems)
    check = _BUILDERS[kind](spec, item, get, problems, reader)
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


def _system(
    spec: CheckSpec, item: YamlMap, get: _Getter, problems: list[ConfigProblem], reader: SystemReader | None
) -> Check | None:
    resource = get.value("resource", _choice(SYSTEM_RESOURCES), None, required=True)
    warning = _threshold(item, "warning", get, problems)
    critical = _threshold(item, "critical", get, problems)
    hysteresis = get.value("hysteresis", parse_percent, 0.0)
    if warning is None and critical is None and "warning" not in item and "critical" not in item:
        problems.append(ConfigProblem(item.mark, "a system check needs a warning and/or critical threshold"))
    if warning is not None and critical is not None and warning > critical:
        problems.append(
            ConfigProblem(
                item.value_mark("warning"), f"warning ({warning:g}%) is above critical ({critical:g}%)"
            )
        )
    path = get.value("path", _text, "/")
    spec.attributes = {"health.check.resource": resource or ""}
    if resource == "disk":
        spec.attributes["health.check.path"] = path
    return SystemCheck(spec, resource or "", Thresholds(warning, critical, hysteresis), path, reader)


def _threshold(item: YamlMap, key: str, get: _Getter, problems: list[ConfigProblem]) -> float | None:
    """``warning``/``critical`` as a percentage, or None (with a problem) when it is not one.

    A bare number is a percentage, so ``warning: 0.8`` (a ratio, meant as 80 %) was 0.8 % and
    the check was always degraded: a bare number above 0 and up to 1 is refused, as the SLO
    reader refuses ``objective: 0.995``, with what to write. Written with ``%`` it is taken
    as is (``0.5%``), and so is a bare 0 (the same as a ratio or a percentage).
    """
    percent: float | None = get.value(key, parse_percent, None)
    if percent is None or not 0 < percent <= 1:
        return percent
    raw = item[key]
    if str(raw).strip().endswith("%"):
        return percent
    if percent == 1:
        message = (
            f"{key}: {raw!r} is ambiguous: a bare number is a percentage (1%), as a ratio it "
            "would be 100%; write it with %: 1% or 100%"
        )
    else:
        message = (
            f"{key}: {raw!r} reads as {percent:g}% (a bare number is a percentage); write "
            f"{percent * 100:g}% (or {percent * 100:g})"
        )
    problems.append(ConfigProblem(item.value_mark(key), message))
    return None


def _tcp(
    spec: CheckSpec, item: YamlMap, get: _Getter, problems: list[ConfigProblem], reader: SystemReader | None
) -> Check | None:
    host = get.value("host", _text, None, required=True)
    port = get.value("port", _port, None, required=True)
    return TcpCheck(spec, host or "", port or 0)


def _http(
    spec: CheckSpec, item: YamlMap, get: _Getter, problems: list[ConfigProblem], reader: SystemReader | None
) -> Check | None:
    url = get.value("url", _url, None, required=True)
    expect = get.value("expect_status", _statuses, (200,))
    headers = get.value("headers", _headers, {})
    return HttpCheck(
        spec,
        url or "",
        expect,
        get.value("body_contains", _text, None),
        get.value("method", _choice(("GET", "HEAD", "POST")), "GET"),
        headers,
    )


def _sql(
    spec: CheckSpec, item: YamlMap, get: _Getter, problems: list[ConfigProblem], reader: SystemReader | None
) -> Check | None:
    driver = get.value("driver", _choice(SQL_DRIVERS), None, required=True)
    dsn = get.value("dsn", _text, None, required=True)
    query = get.value("query", _text, "SELECT 1")
    if driver == "postgresql" and not any(importlib.util.find_spec(m) for m in ("psycopg", "psycopg2")):
        problems.append(
            ConfigProblem(item.value_mark("driver"), "driver postgresql needs psycopg or psycopg2 installed")
        )
    spec.attributes = {"db.system.name": driver or ""}
    return SqlCheck(spec, driver or "", dsn or "", query)


def _python(
    spec: CheckSpec, item: YamlMap, get: _Getter, problems: list[ConfigProblem], reader: SystemReader | None
) -> Check | None:
    target = get.value("function", _text, None, required=True)
    if target is None:
        return None
    module_name, sep, attr = target.partition(":")
    mark = item.value_mark("function")
    if not sep or not module_name or not attr.isidentifier():
        problems.append(ConfigProblem(mark, f"function {target!r} must look like 'package.module:function'"))
        return None
    try:
        found = importlib.util.find_spec(module_name)
    except Exception as exc:  # finding a submodule imports its package: any error of the user's code
        found, error = None, f": {exc}"
    else:
        error = ""
    if found is None:
        problems.append(
            ConfigProblem(mark, f"cannot find module {module_name!r}{error} (is it on sys.path?)")
        )
        return None
    return PythonCheck(spec, target, str(mark))


_BUILDERS: dict[str, Callable[..., Check | None]] = {
    "system": _system,
    "tcp": _tcp,
    "http": _http,
    "sql": _sql,
    "python": _python,
}


# ---- value parsers: raise ValueError with a message; _Getter adds the position ----


class _Getter:
    """``get.value(key, parse, default)`` on one mapping, collecting into the shared :class:`Problems`."""

    def __init__(self, mapping: YamlMap, problems: list[ConfigProblem]) -> None:
        self.mapping, self.problems = mapping, Problems(problems)

    def value(self, key: str, parse: Callable[[Any], Any], default: Any, *, required: bool = False) -> Any:
        return self.problems.value(self.mapping, key, parse, default, required=required)


def _text(value: Any) -> str:
    if not isinstance(value, (str, int, float)) or isinstance(value, bool) or str(value) == "":
        raise ValueError(f"expected a non-empty string, got {value!r}")
    return str(value)


_UNPRINTABLE = {
    "Cc": "a control character",
    "Cf": "an invisible formatting character",
    "Cs": "a lone surrogate",
    "Zl": "a line separator",
    "Zp": "a paragraph separator",
}


def _check_name(value: Any) -> str:
    """A name printed as written: it goes into log lines (stderr too), span names, thread names
    and metric labels, where a newline forges a second line, ESC colours a terminal and a lone
    surrogate cannot be encoded. Refused at load, so no output has to escape it."""
    text = _text(value)
    for char in text:
        what = _UNPRINTABLE.get(unicodedata.category(char))
        if what is not None:
            raise ValueError(
                f"{text!r} holds {what} (U+{ord(char):04X}); a check's name is printed in log lines, "
                "span names and metric labels: use printable characters on one line"
            )
    return text


def _bool(value: Any) -> bool:
    if not isinstance(value, bool):
        raise ValueError(f"expected true or false, got {value!r}")
    return value


def _port(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 0 < value < 65536:
        raise ValueError(f"expected a port number 1..65535, got {value!r}")
    return value


def _url(value: Any) -> str:
    text = _text(value)
    if not text.startswith(("http://", "https://")):
        raise ValueError(f"expected an http:// or https:// URL, got {text!r}")
    return text


def _statuses(value: Any) -> tuple[int, ...]:
    items = value if isinstance(value, list) else [value]
    if not items or not all(
        isinstance(c, int) and not isinstance(c, bool) and 100 <= c <= 599 for c in items
    ):
        raise ValueError(f"expected an HTTP status or a list of them, got {value!r}")
    return tuple(items)


def _headers(value: Any) -> dict[str, str]:
    if not isinstance(value, dict):
        raise ValueError("expected a mapping of header names to values")
    return {str(k): str(v) for k, v in value.items()}


def _choice(options: tuple[str, ...]) -> Callable[[Any], str]:
    def parse(value: Any) -> str:
        if value not in options:
            raise ValueError(f"{value!r} is not one of {', '.join(options)}")
        return str(value)

    return parse
