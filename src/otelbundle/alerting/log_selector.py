"""Rules over log records: the ``logs:`` selector, read like ``spans:`` and matched on the manager's thread.

    - alert: PaymentsDeadlocks
      logs:
        service: payments                # resource service.name (glob allowed)
        severity: ">= ERROR"            # TRACE DEBUG INFO WARN ERROR FATAL (WARNING, CRITICAL too)
        logger: "payments.*"             # the logger (instrumentation scope) name, glob allowed
        where: 'body =~ "deadlock"'      # or a list; fields: body, severity, severity_number,
                                         # logger, and attributes (then resource attributes)
      expr: count > 0                    # count, rate or absent
      window: 5m

Records of otelbundle's own loggers never count: the alert's own transition
record is logged at WARNING/ERROR and would keep the rule firing.
"""

from __future__ import annotations

import fnmatch
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from otelbundle.alerting.predicates import Predicate, PredicateError, parse_predicate
from otelbundle.config import Mark, Problems, YamlList, YamlMap

SEVERITY_NUMBERS = {
    "TRACE": 1,
    "DEBUG": 5,
    "INFO": 9,
    "WARN": 13,
    "WARNING": 13,
    "ERROR": 17,
    "FATAL": 21,
    "CRITICAL": 21,
}
"""OpenTelemetry severity numbers of each range's first level; Python's WARNING and CRITICAL
are WARN and FATAL (the SDK's LoggingHandler maps them so)."""
LOGS_KEYS = frozenset({"service", "severity", "logger", "where"})
OWN_LOGGERS = "otelbundle"
_SEVERITY = re.compile(r"^\s*(?P<op>>=|<=|==|!=|>|<)?\s*(?P<level>[A-Za-z]+|\d+)\s*$")
_OPS = {
    ">": lambda a, b: a > b,
    ">=": lambda a, b: a >= b,
    "<": lambda a, b: a < b,
    "<=": lambda a, b: a <= b,
    "==": lambda a, b: a == b,
    "!=": lambda a, b: a != b,
}


@dataclass(frozen=True)
class LogView:
    """What predicates and group keys read from a log record."""

    body: str
    severity: str
    severity_number: int
    logger: str
    attributes: Mapping[str, Any]
    resource: Mapping[str, Any]
    trace_id: int = 0

    def get(self, field: str) -> Any:
        if field == "body":
            return self.body
        if field == "severity":
            return self.severity
        if field == "severity_number":
            return self.severity_number
        if field == "logger":
            return self.logger
        value = self.attributes.get(field)
        return self.resource.get(field) if value is None else value


def _glob(pattern: str | None, value: str) -> bool:
    return pattern is None or value == pattern or fnmatch.fnmatchcase(value, pattern)


@dataclass(frozen=True)
class LogMatcher:
    """Every set line must hold: service and logger (globs), severity (a comparison), each where:."""

    service: str | None = None
    severity_op: str | None = None
    severity_number: int = 0
    logger: str | None = None
    where: tuple[Predicate, ...] = ()

    def matches_source(self, service: str, logger: str) -> bool:
        """Service and logger: fixed per (resource, logger), so the fold caches this."""
        if logger == OWN_LOGGERS or logger.startswith(OWN_LOGGERS + "."):
            return False
        return _glob(self.service, service) and _glob(self.logger, logger)

    def matches_severity(self, number: int) -> bool:
        return self.severity_op is None or _OPS[self.severity_op](number, self.severity_number)

    def matches_where(self, view: LogView) -> bool:
        return all(predicate(view) for predicate in self.where)


def _only_own_loggers(pattern: str) -> bool:
    """Whether every logger the glob can match is otelbundle's own (``otelbundle``, ``otelbundle.*``)."""
    return pattern == OWN_LOGGERS or pattern.startswith(OWN_LOGGERS + ".")


def parse_severity(text: object) -> tuple[str, int]:
    """``">= ERROR"`` -> (">=", 17); a bare level means ``==``; ValueError with the known names."""
    match = _SEVERITY.match(str(text))
    level = match.group("level").upper() if match else ""
    if match is None or not (level.isdigit() or level in SEVERITY_NUMBERS):
        raise ValueError(
            f'{text!r} is not a severity: use e.g. ">= ERROR" or WARN '
            f"({', '.join(n for n in SEVERITY_NUMBERS if n not in ('WARNING', 'CRITICAL'))}, or 1-24)"
        )
    number = int(level) if level.isdigit() else SEVERITY_NUMBERS[level]
    if not 1 <= number <= 24:
        raise ValueError(f"severity number {number} is outside 1-24")
    return match.group("op") or "==", number


def read_log_matcher(logs: YamlMap, problems: Problems) -> LogMatcher | None:
    """The ``logs:`` mapping of a rule; None (with problems added) when it is wrong."""
    before = len(problems)
    problems.unknown_keys(logs, LOGS_KEYS, "logs")
    for key in ("service", "logger"):
        if key in logs and not isinstance(logs[key], str):
            problems.add(logs.value_mark(key), f"{key} must be a string (a glob such as payments-*)")
    logger = logs.get("logger")
    if isinstance(logger, str) and _only_own_loggers(logger):
        problems.add(
            logs.value_mark("logger"),
            f"logger: {logger!r} selects only otelbundle's own records, which never count (alerts "
            "would feed themselves); health check results reach rules as spans named 'health <check>'",
        )
    severity_op, severity_number = None, 0
    if "severity" in logs:
        try:
            severity_op, severity_number = parse_severity(logs["severity"])
        except ValueError as exc:
            problems.add(logs.value_mark("severity"), f"severity: {exc}")
    where: list[Predicate] = []
    if "where" in logs:
        raw = logs["where"]
        items = raw if isinstance(raw, YamlList) else [raw] if isinstance(raw, str) else None
        if items is None:
            problems.add(logs.value_mark("where"), "where must be a condition or a list of conditions")
        for index, text in enumerate(items or []):
            mark = items.item_mark(index) if isinstance(items, YamlList) else logs.value_mark("where")
            if not isinstance(text, str):
                problems.add(mark, 'where: each condition is a string, e.g. body =~ "deadlock"')
                continue
            try:
                where.append(parse_predicate(text))
            except PredicateError as exc:
                problems.add(Mark(mark.file, mark.line, mark.column + exc.column - 1), f"where: {exc}")
    if len(problems) > before:
        return None
    return LogMatcher(
        service=str(logs["service"]) if "service" in logs else None,
        severity_op=severity_op,
        severity_number=severity_number,
        logger=str(logs["logger"]) if "logger" in logs else None,
        where=tuple(where),
    )
