"""What `otelbundle --help` and each command's `--help` tell a person who just installed it.

The top-level help once read "The ``otelbundle`` command. Subsystems plug in their
own subcommands." (the module docstring, reST markup included), `rules` was
described as "check alert rule files" although it also runs rule tests, and the
FILE arguments of `rules check`, `rules test`, `health check`, `health run` and
`config check` said nothing of what file they take.
"""

from __future__ import annotations

import argparse
from collections.abc import Iterator

import pytest

from otelbundle import cli


def _parsers(
    parser: argparse.ArgumentParser, path: tuple[str, ...] = ()
) -> Iterator[tuple[tuple[str, ...], argparse.ArgumentParser]]:
    yield path, parser
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                yield from _parsers(sub, (*path, name))


PARSERS = dict(_parsers(cli.build_parser()))


@pytest.mark.parametrize("path", sorted(PARSERS), ids=lambda p: " ".join(("otelbundle", *p)))
def test_help_has_no_source_markup_and_says_what_each_argument_is(path: tuple[str, ...]) -> None:
    text = PARSERS[path].format_help()
    assert "``" not in text, text
    unexplained = [
        action.metavar or action.dest
        for action in PARSERS[path]._actions
        if not action.option_strings
        and not isinstance(action, argparse._SubParsersAction)
        and not action.help
    ]
    assert not unexplained, f"otelbundle {' '.join(path)} --help: no help for {unexplained}\n{text}"


def test_top_level_help_says_what_the_command_is_for() -> None:
    text = " ".join(cli.build_parser().format_help().split())
    assert "Subsystems plug in" not in text
    assert "otelbundle.yaml" in text and "opentelemetry-instrument" in text, text


def test_rules_help_names_both_its_actions() -> None:
    text = " ".join(cli.build_parser().format_help().split())
    assert "rules check and test alert rule files" in text, text
