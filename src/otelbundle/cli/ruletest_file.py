"""What a rule test file (``otelbundle rules test``) may say: its keys and values, checked before it runs.

Every problem is located (``file:line:column``), so a malformed file fails with all of
its mistakes at once and running it cannot fail on them.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

from otelbundle.alerting.batch import KIND_NAMES
from otelbundle.cli import ruletest_records
from otelbundle.config import ConfigProblem, Problems, YamlList, YamlMap, did_you_mean, parse_duration

_ITEM = re.compile(r"^\s*(ok|error)\s+(\S+)\s+x(\d+)\s*$")
MAX_TEST_SPANS = 1_000_000
SPAN_KINDS = {name: kind for kind, name in KIND_NAMES.items()}


def expand(text: object) -> list[tuple[bool, float]]:
    spans: list[tuple[bool, float]] = []
    for item in str(text).split(","):
        match = _ITEM.match(item)
        if match is None:
            raise ValueError(f"{item.strip()!r} is not 'ok|error DURATION xCOUNT'")
        error, duration, count = (
            match.group(1) == "error",
            parse_duration(match.group(2)),
            int(match.group(3)),
        )
        if len(spans) + count > MAX_TEST_SPANS:
            raise ValueError(f"more than {MAX_TEST_SPANS} spans in one series")
        spans.extend([(error, duration)] * count)
    return spans


_FILE_KEYS = ("rule_files", "evaluation_interval", "evaluate_on_spans", "config", "tests")
_TEST_KEYS = ("name", "interval", "input_spans", "input_records", "alert_rule_test")
_SERIES_KEYS = ("spans", "values")
_SPANS_KEYS = ("service", "name", "kind", "attributes", "resource", "exception", "logs")
_CHECK_KEYS = ("eval_time", "alertname", "exp_alerts")
_EXPECTED_KEYS = ("exp_labels", "exp_annotations", "exp_channels")


def check_test_file(root: YamlMap, problems: Problems) -> None:
    """Shape and values of a test file, so that running it cannot fail on them."""
    problems.unknown_keys(root, _FILE_KEYS, "the rule test file")
    problems.unset_env(root)
    rule_files = root.get("rule_files")
    if rule_files is not None and (
        not isinstance(rule_files, YamlList) or not all(isinstance(f, str) and f for f in rule_files)
    ):
        problems.add(root.value_mark("rule_files"), "rule_files must be a list of file names")
        root["rule_files"] = []
    tests: YamlList = root["tests"]
    for index, test in enumerate(tests):
        if not isinstance(test, YamlMap):
            problems.add(tests.item_mark(index), "each test must be a mapping")
            continue
        problems.unknown_keys(test, _TEST_KEYS, "a test")
        if "name" in test and not isinstance(test["name"], str):
            problems.add(test.value_mark("name"), "name must be a string")
        problems.value(test, "interval", parse_duration, 1.0)
        for series in _mappings(test, "input_spans", problems):
            problems.unknown_keys(series, _SERIES_KEYS, "input_spans")
            problems.value(series, "values", expand, list[tuple[bool, float]](), required=True)
            spans = ruletest_records.series_selector(
                series, "spans", _SPANS_KEYS, "service, name, kind", problems
            )
            if spans is None:
                continue
            if "kind" in spans and not (isinstance(spans["kind"], str) and spans["kind"] in SPAN_KINDS):
                problems.add(spans.value_mark("kind"), f"kind must be one of {', '.join(SPAN_KINDS)}")
            exception = spans.get("exception")
            if exception is not None and (
                not isinstance(exception, YamlMap)
                or not set(exception) <= {"type", "message"}
                or not all(isinstance(v, str) for v in exception.values())
            ):
                problems.add(
                    spans.value_mark("exception"),
                    "exception must be a mapping of type and message, e.g. {type: ValueError, message: no stock}",
                )
            logs = spans.get("logs")
            if logs is not None and (
                not isinstance(logs, YamlList) or not all(isinstance(v, str) for v in logs)
            ):
                problems.add(
                    spans.value_mark("logs"), 'logs must be a list of lines, e.g. ["ERROR payment failed"]'
                )
        for series in _mappings(test, "input_records", problems):
            ruletest_records.check_series(series, problems)
        for check in _mappings(test, "alert_rule_test", problems):
            problems.unknown_keys(check, _CHECK_KEYS, "alert_rule_test")
            problems.value(
                check, "eval_time", lambda v: parse_duration(v, allow_zero=True), 0.0, required=True
            )
            if not isinstance(check.get("alertname"), str):
                problems.add(check.value_mark("alertname"), "alertname must be the name of an alert")
            for expected in _mappings(check, "exp_alerts", problems):
                problems.unknown_keys(expected, _EXPECTED_KEYS, "exp_alerts")
                for key in ("exp_labels", "exp_annotations"):
                    if key in expected and not isinstance(expected[key], YamlMap):
                        problems.add(expected.value_mark(key), f"{key} must be a mapping")
                    elif key in expected:
                        for name, value in expected[key].items():
                            if isinstance(value, (YamlMap, YamlList)):
                                problems.add(expected[key].value_mark(name), f"{key}: {name!r} must be text")
                channels = expected.get("exp_channels")
                if channels is not None and (
                    not isinstance(channels, YamlList) or not all(isinstance(c, str) for c in channels)
                ):
                    problems.add(
                        expected.value_mark("exp_channels"), "exp_channels must be a list of channel names"
                    )
                elif channels is not None and "config" not in root:
                    problems.add(
                        expected.value_mark("exp_channels"),
                        "exp_channels needs config: the otelbundle.yaml whose alerting.notify routes the alerts",
                    )


def as_bool(value: Any) -> bool:
    if not isinstance(value, bool):
        raise ValueError("must be true or false")
    return value


def _mappings(parent: YamlMap, key: str, problems: Problems) -> list[YamlMap]:
    """The items of the list ``parent[key]`` (absent: none), each checked to be a mapping."""
    items = parent.get(key)
    if items is None:
        return []
    if not isinstance(items, YamlList):
        problems.add(parent.value_mark(key), f"{key} must be a list")
        return []
    found = []
    for index, item in enumerate(items):
        if isinstance(item, YamlMap):
            found.append(item)
        else:
            problems.add(items.item_mark(index), f"each item of {key} must be a mapping")
    return found


MAX_EVALUATIONS = 1_000_000  # 11.5 days of eval_time at a 1s evaluation_interval


def check_evaluation_count(root: YamlMap, evaluation_interval: float, problems: Problems) -> None:
    """A test steps through every evaluation up to its last eval_time: an
    evaluation_interval of nanoseconds, or an eval_time of years, would run for
    hours instead of failing. Named at the eval_time, with what to change."""
    for test in root["tests"]:
        if not isinstance(test, YamlMap):
            continue
        checks = test.get("alert_rule_test")
        if not isinstance(checks, YamlList):
            continue  # reported by check_test_file
        for check in checks:
            if not isinstance(check, YamlMap):
                continue
            try:
                until = parse_duration(check.get("eval_time"), allow_zero=True)
            except (TypeError, ValueError):
                continue  # reported by check_test_file
            evaluations = until / evaluation_interval
            if evaluations > MAX_EVALUATIONS:
                problems.add(
                    check.value_mark("eval_time"),
                    f"eval_time {check.get('eval_time')} at an evaluation_interval of "
                    f"{evaluation_interval:g}s is {evaluations:,.0f} evaluations; a rule test runs at most "
                    f"{MAX_EVALUATIONS:,}: make evaluation_interval longer or eval_time shorter",
                )


def unknown_alertnames(root: YamlMap, names: Iterable[str]) -> list[ConfigProblem]:
    """An ``alert_rule_test`` whose ``alertname`` names no rule of the rule files: a warning.

    Its expectation of no alerts passes whatever the rules do (promtool passes it too), so a
    misspelled name or a rule renamed since tested nothing and said SUCCESS. Not a failure, as
    in promtool: a test that expects an alert of a rule not written yet is also this."""
    known = frozenset(names)
    found: list[ConfigProblem] = []
    tests = root.get("tests")
    for test in tests if isinstance(tests, YamlList) else []:
        checks = test.get("alert_rule_test") if isinstance(test, YamlMap) else None
        for check in checks if isinstance(checks, YamlList) else []:
            name = check.get("alertname") if isinstance(check, YamlMap) else None
            if isinstance(name, str) and name not in known:
                found.append(
                    ConfigProblem(
                        check.value_mark("alertname"),
                        f"warning: alertname {name!r} names no rule in the rule files{did_you_mean(name, known)}; "
                        "this check tests nothing",
                    )
                )
    return found
