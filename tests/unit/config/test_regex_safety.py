"""Regexes that would backtrack for days in Python's re are refused at load, where they are written;
a where: regex reads a bounded prefix of a value (the polynomial cases)."""

from __future__ import annotations

from pathlib import Path

import pytest

from otelbundle.alerting.notify.matchers import MatcherError, parse_matchers
from otelbundle.alerting.predicates import REGEX_READS, PredicateError, SpanView, parse_predicate
from otelbundle.config import ConfigError
from otelbundle.config.regex_safety import backtracking_hazard
from tests.unit.alerting.helpers import config_from

EXPONENTIAL = [
    "(a+)+$",
    "(a*)*b",
    "(.*)*x",
    "(a|aa)+$",
    "(\\w+\\s?)*$",
    "(a?a?)+$",
    "((a+)b)+",
    "(?:(a|aa))+",
]
POLYNOMIAL_NESTING = ["(a+){10}$", "(a{2,})+", "(?P<x>a+)+"]
SAFE = [
    "(\\d{1,3}\\.){3}\\d{1,3}",
    "(a|b){3}",
    "(GET|POST) /api",
    "[(a+)]+",
    "\\(a+\\)+",
    "a+b+c*",
    "(ab)+",
    "(a{3})+",
    "(?i)(foo)+",
    "([a-z]+)?",
    "[^]()]+x",
    "^/checkout$",
]


@pytest.mark.parametrize("regex", EXPONENTIAL + POLYNOMIAL_NESTING)
def test_a_group_repeated_over_its_own_repeats_or_alternatives_is_refused(regex: str) -> None:
    hazard = backtracking_hazard(regex)
    assert hazard is not None
    assert hazard[0] == regex.index("(", regex.startswith("(?i)") * 4)


@pytest.mark.parametrize("regex", SAFE)
def test_regexes_each_character_matches_one_way_pass(regex: str) -> None:
    assert backtracking_hazard(regex) is None


def test_a_where_regex_that_backtracks_is_refused_at_its_line(tmp_path: Path) -> None:
    rules = """
groups:
  - name: g
    rules:
      - alert: A
        spans:
          where: 'http.route =~ "(a+)+$"'
        expr: error_count > 0
"""
    with pytest.raises(ConfigError) as raised:
        config_from(tmp_path, rules)
    (problem,) = raised.value.problems
    assert (problem.mark.file, problem.mark.line) == (str(tmp_path / "rules.yaml"), 7)
    assert "'(a+)+' repeats without bound a group that holds a quantifier" in problem.message
    with pytest.raises(PredicateError, match="exponential time"):
        parse_predicate('v !~ "(x|xy)*z"')


def test_a_name_regex_that_backtracks_is_refused_at_its_line(tmp_path: Path) -> None:
    rules = """
groups:
  - name: g
    rules:
      - alert: A
        spans: {name_regex: "^(GET|POST )+/"}
        expr: error_count > 0
"""
    with pytest.raises(ConfigError) as raised:
        config_from(tmp_path, rules)
    (problem,) = raised.value.problems
    assert problem.mark.line == 6
    assert problem.message.startswith("name_regex: '(GET|POST )+' repeats without bound")


def test_a_routing_matcher_regex_that_backtracks_is_refused_at_its_value() -> None:
    with pytest.raises(MatcherError) as caught:
        parse_matchers('team=~"(sh|s|h)+op"')
    assert caught.value.offset == 6
    assert "'(sh|s|h)+' repeats without bound a group that holds alternatives" in str(caught.value)


def span(value: str) -> SpanView:
    return SpanView("GET /", "server", "ok", 0.1, {"v": value}, {"service.name": "shop"})


def test_a_where_regex_reads_a_bounded_prefix_of_a_value() -> None:
    """``.*.*x`` over a value of 20 000 characters is ~10^12 steps in Python's re; it reads 1024."""
    assert REGEX_READS == 1024
    prefix_then_end = parse_predicate('v =~ "x$"')
    assert prefix_then_end(span("a" * (REGEX_READS - 1) + "x"))
    assert not prefix_then_end(span("a" * REGEX_READS + "x"))
    assert not parse_predicate('v =~ ".*.*x"')(span("a" * 20_000))


def test_a_flag_after_the_start_is_refused_on_every_python() -> None:
    """3.11 refuses ``a(?i)b``; 3.10 only warned, and then read the whole pattern case-blind
    (RE2 reads it from the flag on): a rule loaded on one version and not the other."""
    import re

    from otelbundle.config.regex_safety import compile_user_regex

    with pytest.raises(re.error, match=r"(?i)flags not at the start"):
        compile_user_regex("a(?i)b")
    assert compile_user_regex("(?i)ab").fullmatch("AB") is not None
