"""What each kind of health check (system, tcp, http, sql, python) takes from its entry in
``health.checks``, and the check it builds; every problem is collected with its position."""

from __future__ import annotations

import importlib.util
from collections.abc import Callable

from otelbundle.config import ConfigProblem, YamlMap, parse_percent
from otelbundle.health.checks import (
    SYSTEM_RESOURCES,
    Check,
    CheckSpec,
    PythonCheck,
    SystemCheck,
    SystemReader,
    TcpCheck,
    import_failure,
)
from otelbundle.health.field_values import (
    Getter,
    header_map,
    host_name,
    http_url,
    one_of,
    port_number,
    status_codes,
    text_value,
)
from otelbundle.health.http_check import HttpCheck
from otelbundle.health.model import Thresholds
from otelbundle.health.sql_check import SQL_DRIVERS, SqlCheck

KIND_KEYS: dict[str, frozenset[str]] = {
    "system": frozenset({"resource", "path", "warning", "critical", "hysteresis"}),
    "tcp": frozenset({"host", "port"}),
    "http": frozenset({"url", "expect_status", "body_contains", "method", "headers"}),
    "sql": frozenset({"driver", "dsn", "query"}),
    "python": frozenset({"function"}),
}


def _system(
    spec: CheckSpec, item: YamlMap, get: Getter, problems: list[ConfigProblem], reader: SystemReader | None
) -> Check | None:
    resource = get.value("resource", one_of(SYSTEM_RESOURCES), None, required=True)
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
    path = get.value("path", text_value, "/")
    spec.attributes = {"health.check.resource": resource or ""}
    if resource == "disk":
        spec.attributes["health.check.path"] = path
    return SystemCheck(spec, resource or "", Thresholds(warning, critical, hysteresis), path, reader)


def _threshold(item: YamlMap, key: str, get: Getter, problems: list[ConfigProblem]) -> float | None:
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
    spec: CheckSpec, item: YamlMap, get: Getter, problems: list[ConfigProblem], reader: SystemReader | None
) -> Check | None:
    host = get.value("host", host_name, None, required=True)
    port = get.value("port", port_number, None, required=True)
    return TcpCheck(spec, host or "", port or 0)


def _http(
    spec: CheckSpec, item: YamlMap, get: Getter, problems: list[ConfigProblem], reader: SystemReader | None
) -> Check | None:
    url = get.value("url", http_url, None, required=True)
    expect = get.value("expect_status", status_codes, (200,))
    headers = get.value("headers", header_map, {})
    return HttpCheck(
        spec,
        url or "",
        expect,
        get.value("body_contains", text_value, None),
        get.value("method", one_of(("GET", "HEAD", "POST")), "GET"),
        headers,
    )


def _sql(
    spec: CheckSpec, item: YamlMap, get: Getter, problems: list[ConfigProblem], reader: SystemReader | None
) -> Check | None:
    driver = get.value("driver", one_of(SQL_DRIVERS), None, required=True)
    dsn = get.value("dsn", text_value, None, required=True)
    query = get.value("query", text_value, "SELECT 1")
    if driver == "sqlite3" and dsn is not None and dsn.lower().startswith(("sqlite:", "sqlite+")):
        # SQLAlchemy's URL opened as a file name: "unable to open database file" at every run.
        problems.append(
            ConfigProblem(
                item.value_mark("dsn"),
                "dsn: a SQLAlchemy URL (sqlite:///...) is not a path; the sqlite3 driver takes the "
                "database file's path (/var/lib/app/app.db, app.db) or a file: URI",
            )
        )
    if driver == "postgresql" and not any(importlib.util.find_spec(m) for m in ("psycopg", "psycopg2")):
        problems.append(
            ConfigProblem(item.value_mark("driver"), "driver postgresql needs psycopg or psycopg2 installed")
        )
    spec.attributes = {"db.system.name": driver or ""}
    return SqlCheck(spec, driver or "", dsn or "", query)


def _python(
    spec: CheckSpec, item: YamlMap, get: Getter, problems: list[ConfigProblem], reader: SystemReader | None
) -> Check | None:
    target = get.value("function", text_value, None, required=True)
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
        if not _is_absent(exc, module_name):  # the package is there and raised: said as the app says it
            problems.append(ConfigProblem(mark, import_failure(spec.name, target, exc)))
            return None
        found, error = None, f": {exc}"
    else:
        error = ""
    if found is None:
        problems.append(
            ConfigProblem(mark, f"cannot find module {module_name!r}{error} (is it on sys.path?)")
        )
        return None
    return PythonCheck(spec, target, str(mark))


def _is_absent(exc: Exception, module_name: str) -> bool:
    """Whether ``exc`` from looking ``module_name`` up says a part of that dotted name is not there
    (``a`` of ``a.b`` missing), rather than a module that is there failing as it is imported."""
    if not isinstance(exc, ModuleNotFoundError) or not exc.name:
        return False
    return module_name == exc.name or module_name.startswith(exc.name + ".")


BUILDERS: dict[str, Callable[..., Check | None]] = {
    "system": _system,
    "tcp": _tcp,
    "http": _http,
    "sql": _sql,
    "python": _python,
}
