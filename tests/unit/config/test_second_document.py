"""A file with a second YAML document ('---' in the middle) says what that means and what to do."""

from __future__ import annotations

import pytest

from otelbundle.config import ConfigError, load_text


def test_a_second_document_is_a_problem_at_its_start_that_says_what_to_do() -> None:
    with pytest.raises(ConfigError) as raised:
        load_text("scrub: {}\n---\nhealth: {}\n", "otelbundle.yaml", env={})
    assert [str(p) for p in raised.value.problems] == [
        "otelbundle.yaml:2:1: a second YAML document starts here ('---'): the file is read as one "
        "document; remove the '---' line, or put the sections of both parts in one"
    ]


def test_a_leading_document_marker_is_fine() -> None:
    assert load_text("---\nscrub: {}\n", "otelbundle.yaml", env={}) is not None
