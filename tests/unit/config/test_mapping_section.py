"""One way to find a section for alerting:, health: and scrub: (ConfigDocument.mapping_section),
with what each says when the section is missing, empty, or not a mapping.

The three readers each had their own copy of this; the table pins what they said before they
shared one, so a change to the shared method shows in every reader it changes.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from otelbundle.alerting.section import read_alerting_section
from otelbundle.config.document import ConfigDocument, read_document
from otelbundle.health.section import read_health_section
from otelbundle.scrub.section import read_scrub_section

READERS: dict[str, Callable[[ConfigDocument], tuple[object, list[object]]]] = {
    "alerting": lambda document: read_alerting_section(document, {}),
    "health": lambda document: read_health_section(document),
    "scrub": lambda document: read_scrub_section(document, {}),
}
SHAPE = {
    "alerting": "alerting must be a mapping",
    "health": "health must be a mapping with a 'checks' list",
    "scrub": "scrub must be a mapping (enabled, extra_patterns, ...)",
}


def read(tmp_path: Path, name: str, text: str) -> tuple[object, list[str]]:
    path = tmp_path / "otelbundle.yaml"
    path.write_text(text.format(name=name))
    found, problems = READERS[name](read_document(str(path), {}))
    return found, [str(p).replace(str(path), "F") for p in problems]


@pytest.mark.parametrize("name", READERS)
def test_a_section_that_is_not_a_mapping_is_said_at_its_value(tmp_path: Path, name: str) -> None:
    column = len(name) + 3
    assert read(tmp_path, name, "{name}: [1]\n")[1] == [f"F:1:{column}: {SHAPE[name]}"]
    assert read(tmp_path, name, "{name}: 3\n")[1] == [f"F:1:{column}: {SHAPE[name]}"]


@pytest.mark.parametrize("name", READERS)
def test_a_missing_section_says_nothing(tmp_path: Path, name: str) -> None:
    assert read(tmp_path, name, "other: 1\n")[1] == []
    assert read(tmp_path, name, "")[1] == []


@pytest.mark.parametrize(("name", "said"), [("alerting", False), ("health", True), ("scrub", False)])
def test_an_empty_section_is_absent_except_health_which_needs_checks(
    tmp_path: Path, name: str, said: bool
) -> None:
    column = len(name) + 2
    assert read(tmp_path, name, "{name}:\n")[1] == ([f"F:1:{column}: {SHAPE[name]}"] if said else [])


@pytest.mark.parametrize(("name", "said"), [("alerting", True), ("health", True), ("scrub", False)])
def test_a_file_that_cannot_be_parsed_is_said_by_all_but_scrub(tmp_path: Path, name: str, said: bool) -> None:
    problems = read(tmp_path, name, "{name}: [\n")[1]
    assert bool(problems) is said and all("YAML syntax error" in p for p in problems)


def test_health_says_unset_variables_first_even_in_a_section_that_is_not_a_mapping(tmp_path: Path) -> None:
    found, problems = read(tmp_path, "health", '{name}: ["${{env:OTELBUNDLE_TEST_UNSET}}"]\n')
    assert problems == [
        "F:1:11: environment variable OTELBUNDLE_TEST_UNSET is not set",
        f"F:1:9: {SHAPE['health']}",
    ]
    assert found is not None  # no checks, and the problems say why


def test_the_mapping_is_handed_over_as_written(tmp_path: Path) -> None:
    path = tmp_path / "otelbundle.yaml"
    path.write_text("scrub:\n  enabled: false\n")
    section, problems = read_document(str(path), {}).mapping_section("scrub", "unused")
    assert problems == [] and section == {"enabled": False}
