"""``input_records`` of ``otelbundle rules test``: series of log records, as ``input_spans`` for spans.

    input_records:
      - records: {service: payments, logger: payments.db, attributes: {db.system: postgresql}}
        values: 'INFO x20, ERROR "deadlock detected" x3'

Each item is ``SEVERITY ["BODY"] xCOUNT`` (TRACE DEBUG INFO WARN ERROR FATAL,
WARNING and CRITICAL too; the body defaults to the severity); the records of one
series follow each other, one every ``interval``, from time 0, each in a trace
of its own (so alerts carry exemplars), and reach the engine through its log
intake, as an application's records do.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any

from opentelemetry._logs import LogRecord, SeverityNumber
from opentelemetry.sdk._logs import ReadWriteLogRecord
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.util.instrumentation import InstrumentationScope
from opentelemetry.trace import TraceFlags

from otelbundle.alerting.log_selector import SEVERITY_NUMBERS
from otelbundle.config import Problems, YamlMap

SERIES_KEYS = ("records", "values")
RECORDS_KEYS = ("service", "logger", "attributes", "resource")
MAX_TEST_RECORDS = 1_000_000
_ITEM = re.compile(
    r'\s*(?P<severity>[A-Za-z]+)\s*(?:"(?P<body>(?:[^"\\]|\\.)*)")?\s+x(?P<count>\d+)\s*(?:,|$)'
)


def expand_records(text: object) -> list[tuple[str, str]]:
    """(severity name, body) per record of a ``values`` text; ValueError names the bad item."""
    source, position = str(text), 0
    found: list[tuple[str, str]] = []
    while position < len(source.strip()):
        match = _ITEM.match(source, position)
        if match is None or match.end() == position:
            raise ValueError(f"{source[position:].strip()!r} is not 'SEVERITY [\"BODY\"] xCOUNT'")
        severity = match.group("severity").upper()
        if severity not in SEVERITY_NUMBERS:
            raise ValueError(f"{match.group('severity')!r} is not a severity ({', '.join(SEVERITY_NUMBERS)})")
        count = int(match.group("count"))
        if len(found) + count > MAX_TEST_RECORDS:
            raise ValueError(f"more than {MAX_TEST_RECORDS} records in one series")
        body = match.group("body")
        found.extend([(severity, body.replace('\\"', '"') if body is not None else severity)] * count)
        position = match.end()
    return found


def check_series(series: YamlMap, problems: Problems) -> None:
    """Shape and values of one ``input_records`` item, so that running it cannot fail on them."""
    problems.unknown_keys(series, SERIES_KEYS, "input_records")
    problems.value(series, "values", expand_records, list[tuple[str, str]](), required=True)
    series_selector(series, "records", RECORDS_KEYS, "service, logger", problems)


def series_selector(
    series: YamlMap, key: str, keys: Sequence[str], example: str, problems: Problems
) -> YamlMap | None:
    """A test series' ``spans:`` or ``records:`` mapping, its keys and their values checked (a
    name is a string, attributes are OpenTelemetry attribute values); None when absent or
    not a mapping (that problem added)."""
    selector = series.get(key)
    if selector is None:
        return None
    if not isinstance(selector, YamlMap):
        problems.add(series.value_mark(key), f"{key} must be a mapping ({example}, ...)")
        return None
    problems.unknown_keys(selector, keys, key)
    for name in ("service", "name", "logger"):
        if name in selector and name in keys and not isinstance(selector[name], str):
            problems.add(selector.value_mark(name), f"{name} must be a string")
    for name in ("attributes", "resource"):
        if name not in selector:
            continue
        if not isinstance(selector[name], YamlMap):
            problems.add(selector.value_mark(name), f"{name} must be a mapping")
            continue
        for attribute, value in selector[name].items():
            if not is_attribute_value(value):
                problems.add(
                    selector[name].value_mark(attribute),
                    f"{name}: {attribute!r} must be a string, number or boolean, or a list of one of them",
                )
    return selector


def is_attribute_value(value: object) -> bool:
    """What OpenTelemetry takes as an attribute value: a scalar, or a list of one type of them."""
    scalars = (str, bool, int, float)
    if isinstance(value, list):
        return all(isinstance(item, scalars) for item in value) and len({type(item) for item in value}) <= 1
    return isinstance(value, scalars)


def synthetic_record(
    *,
    severity: str,
    body: str,
    logger: str,
    attributes: Mapping[str, Any],
    resource: Resource,
    trace_id: int,
    timestamp_ns: int = 0,
) -> ReadWriteLogRecord:
    """A log record as the SDK's LoggingHandler emits it (the logger is its instrumentation scope)."""
    number = SEVERITY_NUMBERS[severity.upper()]
    return ReadWriteLogRecord(
        LogRecord(
            timestamp=timestamp_ns,
            trace_id=trace_id,
            span_id=trace_id & 0xFFFF_FFFF_FFFF_FFFF or 1,
            trace_flags=TraceFlags(TraceFlags.SAMPLED),
            severity_text={"WARNING": "WARN", "CRITICAL": "FATAL"}.get(severity.upper(), severity.upper()),
            severity_number=SeverityNumber(number),
            body=body,
            attributes=dict(attributes),
        ),
        resource=resource,
        instrumentation_scope=InstrumentationScope(logger),
    )


def series_records(series: Mapping[str, Any], first_trace: int) -> list[ReadWriteLogRecord]:
    """The records of one ``input_records`` item, in order; trace ids count up from ``first_trace``."""
    records = series.get("records") or {}
    resource = Resource(
        {"service.name": str(records.get("service", "service")), **dict(records.get("resource") or {})}
    )
    return [
        synthetic_record(
            severity=severity,
            body=body,
            logger=str(records.get("logger", "app")),
            attributes=records.get("attributes") or {},
            resource=resource,
            trace_id=first_trace + index,
        )
        for index, (severity, body) in enumerate(expand_records(series.get("values", "")))
    ]
