"""What a `where:` comparison makes of the values it meets: text beyond ASCII, escapes,
booleans, missing and non-numeric attributes (each pinned as mutation testing showed none was)."""

from __future__ import annotations

import pytest

from otelbundle.alerting.predicates import PredicateError, SpanView, parse_predicate

SPAN = SpanView(
    "GET /straße",
    "server",
    "ok",
    0.3,
    {
        "http.route": "/straße/日本",
        "cache.hit": False,
        "retry": True,
        "http.response.status_code": "n/a",  # a status code that is not a number
        "quote": 'say "hi"',
        "path": "C:\\temp",
    },
    {"service.name": "shop"},
)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        # Text beyond ASCII is compared as written (it used to be read as Latin-1 bytes: never equal)
        ('http.route == "/straße/日本"', True),
        ('name == "GET /straße"', True),
        ('http.route =~ "日本$"', True),
        ('http.route != "/straße/日本"', False),
        ('http.route == "/strasse/日本"', False),
        # escapes in a quoted value
        ('quote == "say \\"hi\\""', True),
        ('path == "C:\\\\temp"', True),
        # booleans: a bool attribute against true/false, not against their text
        ("cache.hit == false", True),
        ("cache.hit == true", False),
        ("retry == true", True),
        ("retry != true", False),
        # a missing attribute: equality false, != true (as a missing label in Prometheus)
        ('missing.attribute == "x"', False),
        ('missing.attribute != "x"', True),
        # a value that is not a number: no numeric comparison holds, != does
        ("http.response.status_code >= 500", False),
        ("http.response.status_code == 500", False),
        ("http.response.status_code != 500", True),
        # =~ finds the pattern anywhere in the value; anchors say otherwise
        ('name =~ "straße"', True),
        ('name =~ "^straße"', False),
    ],
)
def test_where_compares_values_as_written(text: str, expected: bool) -> None:
    assert parse_predicate(text)(SPAN) is expected


@pytest.mark.parametrize(
    ("text", "column", "message"),
    [
        ('duration > "1s"', 12, "duration compares to a duration such as 250ms"),
        (
            "name == error",
            9,
            "'error' is not a value; quote strings",
        ),  # bare words are status/kind values only
        ('name < "b"', 8, "< needs a number or duration"),
        ("name ==   $", 11, "unexpected character '$'"),
        ("   ", 1, "empty expression"),
        ('name == "a\\x4"', 9, 'bad escape in "a\\x4": truncated \\xXX escape'),  # was a traceback
    ],
)
def test_a_value_that_cannot_be_compared_is_named_at_its_column(text: str, column: int, message: str) -> None:
    with pytest.raises(PredicateError) as caught:
        parse_predicate(text)
    assert message in str(caught.value)
    assert caught.value.column == column
