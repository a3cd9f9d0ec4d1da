"""The `where:` language against the rest of the rule file: its durations are the file-wide
grammar, and its shape (one condition or a list) is the same under spans:, errors_where: and logs:."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from otelbundle.alerting.log_selector import LogView
from otelbundle.alerting.predicates import Fields, PredicateError, SpanView, parse_predicate
from otelbundle.alerting.rules import parse_expr
from otelbundle.alerting.section import load_alerting_config
from otelbundle.cli import main
from otelbundle.config import ConfigError, parse_number
from tests.unit.alerting.helpers import config_from


def span(duration: float = 0.3, **attributes: object) -> SpanView:
    return SpanView("GET /a", "server", "ok", duration, attributes, {"service.name": "shop"})


@pytest.mark.parametrize(
    "text", ["1d", "1w", "1y", "1y2w", "1m30s", "2h30m", "1.5h", "5µs", "250us", "100ns", "250ms"]
)
def test_where_durations_mean_what_expr_durations_mean(text: str) -> None:
    seconds = parse_expr(f"max_duration > {text}", parse_number).threshold
    assert seconds == parse_number(text)
    at, above = span(seconds), span(seconds * 1.001)
    assert parse_predicate(f"duration >= {text}")(at) is True
    assert parse_predicate(f"duration > {text}")(at) is False
    assert parse_predicate(f"duration > {text}")(above) is True


@pytest.mark.parametrize(
    ("text", "column", "message"),
    [
        ("duration > 1x", 12, "'1x' is not a number or a duration (use e.g. 500ms"),
        ("duration > 5 and x == 1.2.3", 23, "'1.2.3' is not a number or a duration"),
        ("duration > -1s", 12, "'-1s' is not a number or a duration"),
        ("duration > 99999999999h", 12, "'99999999999h' is longer than the longest duration"),
        ("http.status > 1e999", 15, "1e999 is too large a number"),  # inf: no status ever above it
    ],
)
def test_a_malformed_duration_is_named_not_just_its_column(text: str, column: int, message: str) -> None:
    with pytest.raises(PredicateError) as caught:
        parse_predicate(text)
    assert caught.value.column == column
    assert str(caught.value).startswith(message)


CHECKED = """\
groups:
  - name: g
    rules:
      - alert: Slow
        spans:
          service: shop
          where:
            - {condition}
        expr: count > 0
"""


def test_rules_check_accepts_every_duration_unit_in_where(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "r.yaml").write_text(CHECKED.format(condition="duration > 1d"))
    assert main(["rules", "check", str(tmp_path / "r.yaml")]) == 0
    assert "SUCCESS: 1 rules found" in capsys.readouterr().out


def test_rules_check_names_a_malformed_duration_with_its_position(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "r.yaml").write_text(CHECKED.format(condition="duration > 1x"))
    assert main(["rules", "check", str(tmp_path / "r.yaml")]) == 1
    assert f"{tmp_path}/r.yaml:8:26: where: '1x' is not a number or a duration" in capsys.readouterr().err


ONE_OR_LIST = """\
groups:
  - name: g
    rules:
      - alert: RouteA
        spans:
          service: shop
          where: {where}
        errors_where: {errors_where}
        expr: error_count > 0
        group_by: [http.request.method]
slos:
  - name: route-a
    spans:
      service: shop
      where: {where}
    objective: 99%
"""


@pytest.mark.parametrize(
    ("where", "errors_where"),
    [
        ('http.route == "/a"', "http.response.status_code >= 500"),
        ("'http.route == \"/a\"'", "[http.response.status_code >= 500]"),
        ('[http.route == "/a"]', "http.response.status_code >= 500"),
        ('[http.route == "/a"]', "[http.response.status_code >= 500]"),
    ],
)
def test_where_and_errors_where_take_one_condition_or_a_list(
    tmp_path: Path, where: str, errors_where: str
) -> None:
    config = config_from(tmp_path, ONE_OR_LIST.format(where=where, errors_where=errors_where))
    rule, *burn_rules = config.rules
    assert rule.name == "RouteA" and burn_rules
    # The fold keys its cached verdicts on these fields: one condition must be read as one, not as letters.
    assert rule.fields == {"http.route", "http.response.status_code", "http.request.method"}
    assert all(burn.fields == {"http.route"} for burn in burn_rules)
    assert rule.matcher.matches(span(**{"http.route": "/a"}))
    assert not rule.matcher.matches(span(**{"http.route": "/b"}))
    assert rule.errors_where is not None
    assert rule.errors_where(span(**{"http.response.status_code": 503}))
    assert not rule.errors_where(span(**{"http.response.status_code": 200}))


@pytest.mark.parametrize(
    ("spans_where", "errors_where", "problem"),
    [
        ("{a: 1}", "[]", "rules.yaml:7:18: where must be a condition or a list of conditions"),
        ("5", "[]", "rules.yaml:7:18: where must be a condition or a list of conditions"),
        ("[]", "{a: 1}", "rules.yaml:8:23: errors_where must be a condition or a list of conditions"),
        ("[5]", "[]", "rules.yaml:7:19: where: each condition is a string, e.g. duration > 250ms"),
        ("duration > 1x", "[]", "rules.yaml:7:29: where: '1x' is not a number or a duration"),
        ("[]", "status == eror", "rules.yaml:8:33: errors_where: 'eror' is not a value"),
    ],
)
def test_a_wrong_condition_is_reported_at_its_position(
    tmp_path: Path, spans_where: str, errors_where: str, problem: str
) -> None:
    rules = ONE_OR_LIST.split("slos:")[0].format(where=spans_where, errors_where=errors_where)
    (tmp_path / "rules.yaml").write_text(rules)
    (tmp_path / "otelbundle.yaml").write_text("alerting:\n  rule_files: [rules.yaml]\n")
    with pytest.raises(ConfigError) as caught:
        load_alerting_config(str(tmp_path / "otelbundle.yaml"), {})
    lines = [str(p).replace(str(tmp_path) + "/", "") for p in caught.value.problems]
    assert any(line.startswith(problem) for line in lines), lines


def log(**attributes: object) -> LogView:
    return LogView("a message", "ERROR", 17, "payments", attributes, {"service.name": "shop"})


# A missing attribute reads as the empty string in a regex match, as an absent label does in Prometheus.
@pytest.mark.parametrize(
    ("text", "when_missing", "when_redis"),
    [
        ('db.system !~ "redis"', True, False),
        ('db.system =~ "redis"', False, True),
        ('db.system =~ ""', True, True),
        ('db.system =~ ".*"', True, True),
        ('db.system =~ "^$"', True, False),
        ('db.system =~ ".+"', False, True),
        ('db.system !~ ".+"', True, False),
        ('db.system !~ ""', False, False),
        ('not (db.system =~ "redis")', True, False),
    ],
)
@pytest.mark.parametrize("view", [span, log], ids=["span", "log record"])
def test_a_missing_attribute_is_the_empty_string_to_a_regex(
    text: str, when_missing: bool, when_redis: bool, view: Callable[..., Fields]
) -> None:
    predicate = parse_predicate(text)
    assert predicate(view()) is when_missing
    assert predicate(view(**{"db.system": ""})) is when_missing  # as if present but empty
    assert predicate(view(**{"db.system": "redis"})) is when_redis


@pytest.mark.parametrize(
    ("key", "value", "hint"),
    [
        ("where", "['http.route == \"/x\"']", "it goes under spans: or logs:, e.g. spans: {where: …}"),
        ("kind", "server", "it goes under spans:, e.g. spans: {kind: …}"),
        ("severity", "ERROR", "it goes under logs:, e.g. logs: {severity: …}"),
    ],
)
def test_a_selector_written_at_rule_level_says_where_it_belongs(
    tmp_path: Path, key: str, value: str, hint: str
) -> None:
    rules = f"""
groups:
  - name: g
    rules:
      - alert: A
        {key}: {value}
        expr: error_count > 0
"""
    with pytest.raises(ConfigError) as raised:
        config_from(tmp_path, rules)
    assert [p.message for p in raised.value.problems] == [f"{key!r} is not a key of a rule: {hint}"]
    assert raised.value.problems[0].mark.line == 6
