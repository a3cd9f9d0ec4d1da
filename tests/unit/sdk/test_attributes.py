"""plain_attributes: a span's or record's attributes as a dict, whatever mapping holds them."""

from __future__ import annotations

from types import MappingProxyType

from opentelemetry.attributes import BoundedAttributes
from opentelemetry.sdk.trace import TracerProvider

from otelbundle.sdk.attributes import plain_attributes


def test_a_finished_spans_attributes_become_a_dict_that_answers_a_missing_name_with_none() -> None:
    span = TracerProvider().get_tracer("t").start_span("s", attributes={"http.route": "/a", "n": 3})
    span.end()
    attributes = plain_attributes(span.attributes)  # a read-only proxy of BoundedAttributes
    assert attributes == {"http.route": "/a", "n": 3} and type(attributes) is dict
    assert attributes.get("db.system") is None


def test_any_mapping_is_copied_and_changing_the_copy_leaves_the_original() -> None:
    bounded = BoundedAttributes(attributes={"a": 1})
    for mapping in (bounded, MappingProxyType(bounded), {"a": 1}, MappingProxyType({"a": 1})):
        copied = plain_attributes(mapping)
        assert copied == {"a": 1} and type(copied) is dict
        copied["b"] = 2
        assert "b" not in mapping


def test_nothing_is_an_empty_dict() -> None:
    assert plain_attributes(None) == {} and plain_attributes({}) == {}
