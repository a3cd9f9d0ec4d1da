"""The scrubber's shortcuts (remembered results, all-clean mappings, key verdicts, rule gates)
give exactly what the rules applied one by one give, however often a value comes back."""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from types import MappingProxyType
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st
from opentelemetry.attributes import BoundedAttributes

from otelbundle.scrub import KEY_MASK, Scrubber, scrub_sql
from otelbundle.scrub.rules import KEY_COUNT_PATTERN, KEY_NOT_A_COUNT_PATTERN, RULES, SQL_SYSTEMS

_TEXTS = [
    "GET",
    "/stock/3?page=2",
    "/stock/3?api_key=abc123&page=2",
    "http://shop:8080/stock/3?token=t0k3n",
    "python-requests/2.32.3",
    "connected with password=hunter2",
    "Bearer abcdefghijkl",
    "https://user:pw@host/x",
    "key AKIAIOSFODNN7EXAMPLE here",
    "SELECT * FROM t WHERE id = 42 AND name = 'bob'",
    "sort=token_count",
    "",
]
_KEYS = [
    "http.url",
    "url.full",
    "http.method",
    "db.statement",
    "db.system",
    "user.password",
    "http.request.header.authorization",
    "llm.usage.total_tokens",  # a count: numbers kept, strings masked
    "note",
    "allowed.url",
]
_VALUES = st.one_of(
    st.sampled_from(_TEXTS),
    st.integers(-3, 3),
    st.booleans(),
    st.floats(allow_nan=False),
    st.lists(st.sampled_from(_TEXTS), max_size=3).map(tuple),
    st.just("sqlite"),
)
_MAPPINGS = st.dictionaries(st.sampled_from(_KEYS), _VALUES, max_size=6)
ALLOWED = ("allowed.url",)


def _rules(text: str) -> str:
    for rule in RULES:
        text = rule.compile().sub(rule.python_replacement, text)
    return text


def _expected(attributes: dict[str, Any], scrubber: Scrubber) -> dict[str, Any]:
    """Each attribute through the documented steps, with nothing remembered."""
    system = attributes.get("db.system.name", attributes.get("db.system"))
    sql = isinstance(system, str) and system.lower() in SQL_SYSTEMS
    result: dict[str, Any] = {}
    for key, value in attributes.items():
        if key in ALLOWED:
            result[key] = value
        elif scrubber.key_is_masked(key):
            kept = type(value) is bool or (
                type(value) in (int, float)
                and re.search(KEY_COUNT_PATTERN, key) is not None
                and re.search(KEY_NOT_A_COUNT_PATTERN, key) is None
            )
            result[key] = value if kept else KEY_MASK
        elif isinstance(value, str):
            result[key] = _rules(scrub_sql(value) if sql and key == "db.statement" else value)
        elif isinstance(value, tuple) and any(isinstance(v, str) for v in value):
            result[key] = tuple(_rules(v) if isinstance(v, str) else v for v in value)
        else:
            result[key] = value
    return result


SHARED = Scrubber(allowed_keys=ALLOWED)  # its tables stay warm across examples


@given(st.lists(_MAPPINGS, min_size=1, max_size=6))
@settings(max_examples=300, deadline=None)
def test_attributes_match_the_rules_applied_one_by_one(mappings: list[dict[str, Any]]) -> None:
    fresh = Scrubber(allowed_keys=ALLOWED)
    for attributes in [*mappings, *mappings]:  # every mapping twice: the second time from the tables
        expected = _expected(attributes, fresh)
        as_sdk_gives_it = MappingProxyType(BoundedAttributes(attributes=attributes, immutable=True))
        for scrubber in (fresh, SHARED):
            changed = scrubber.attributes(as_sdk_gives_it)
            got = dict(attributes) if changed is None else changed
            assert got == expected
            assert (changed is None) == (expected == attributes)


def test_a_value_seen_clean_under_one_key_is_still_masked_under_a_credential_key() -> None:
    scrubber = Scrubber()
    assert scrubber.attributes({"note": "abc", "port": 8080}) is None
    assert scrubber.attributes({"note": "abc", "port": 8080}) is None  # now from the tables
    assert scrubber.attributes({"api_key": "abc", "port": 8080}) == {"api_key": KEY_MASK, "port": 8080}
    assert scrubber.attributes({"db.statement": "x = 1", "db.system": "sqlite"}) == {
        "db.statement": "x = ?",
        "db.system": "sqlite",
    }


def test_the_hook_sees_every_value_even_remembered_ones() -> None:
    seen: list[tuple[str, str]] = []

    def hook(where: str, value: str) -> str:
        seen.append((where, value))
        return value.replace("internal", "REDACTED")

    scrubber = Scrubber(hook=hook)
    for _ in range(3):
        assert scrubber.attributes({"host": "shop.internal", "port": 8080}) == {
            "host": "shop.REDACTED",
            "port": 8080,
        }
    assert seen == [("host", "shop.internal")] * 3


class _NoCopyMapping(Mapping[str, Any]):
    """A mapping whose copy() fails: scrubbing falls back to plain iteration."""

    def __init__(self, values: dict[str, Any]) -> None:
        self._values = values

    def __getitem__(self, key: str) -> Any:
        return self._values[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self._values)

    def __len__(self) -> int:
        return len(self._values)

    def copy(self) -> dict[str, Any]:
        raise RuntimeError("no copies")


def test_any_mapping_is_scrubbed_even_one_whose_copy_fails() -> None:
    attributes = {"url.full": "/stock/3?api_key=abc123&page=2", "port": 8080}
    assert Scrubber().attributes(_NoCopyMapping(attributes)) == {
        "url.full": "/stock/3?api_key=REDACTED&page=2",
        "port": 8080,
    }


_NAMES = st.sampled_from(
    ["GET /stock/<id>", "SELECT", "SELECT * FROM t WHERE id = 42", "GET /x?token=t0k3n", "sort=token_count"]
)


@given(st.lists(st.tuples(_NAMES, st.sampled_from(["sqlite", "redis", None])), min_size=1, max_size=8))
@settings(max_examples=200, deadline=None)
def test_span_names_match_the_rules_applied_one_by_one(names: list[tuple[str, str | None]]) -> None:
    fresh = Scrubber()
    for name, system in [*names, *names]:  # the second time from the tables
        attributes = {"db.system": system} if system else {}
        sql = system in SQL_SYSTEMS
        expected = _rules(scrub_sql(name) if sql and any(c in name for c in "'0123456789") else name)
        assert fresh.span_name(name, attributes) == expected
        assert SHARED.span_name(name, attributes) == expected
