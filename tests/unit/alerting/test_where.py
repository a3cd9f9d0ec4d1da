"""The `where:` language against the rest of the rule file: its durations are the file-wide
grammar, and its shape (one condition or a list) is the same under spans:, errors_where: and logs:."""

from __future__ import annotations

from pathlib import Path

import pytest

from otelbundle.alerting.predicates import PredicateError, SpanView, parse_predicate
from otelbundle.alerting.rules import parse_expr
from otelbundle.cli import main
from otelbundle.config import parse_number


def span(duration: float = 0.3, **attributes: object) -> SpanView:
    return SpanView("GET /a", "server", "ok", duration, attributes, {"service.name": "shop"})


@pytest.mark.parametrize("text", ["1d", "1w", "1m30s", "2h30m", "1.5h", "5µs", "250us", "100ns", "250ms"])
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
