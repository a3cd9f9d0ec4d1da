"""The scrub: section and OTELBUNDLE_SCRUB: positions in every message, and a typo never turns scrubbing off."""

from __future__ import annotations

from pathlib import Path

import pytest

from otelbundle import scrub
from otelbundle.cli import main
from otelbundle.config.env_checks import invalid_values
from otelbundle.distro import api
from otelbundle.scrub.section import load_scrub_settings


def _write(tmp_path: Path, text: str) -> str:
    path = tmp_path / "otelbundle.yaml"
    path.write_text(text)
    return str(path)


def test_a_valid_section_is_read(tmp_path: Path) -> None:
    path = _write(
        tmp_path,
        "alerting: {}\nscrub:\n  enabled: true\n  extra_patterns: ['(ref=)\\w+']\n"
        "  extra_param_names: [session_key]\n  allowed_keys: [app.token_count]\n",
    )
    settings, problems = load_scrub_settings(path, {})
    assert problems == []
    assert settings.enabled
    assert settings.extra_patterns == ["(ref=)\\w+"]
    assert settings.extra_param_names == ["session_key"]
    assert settings.allowed_keys == ["app.token_count"]


def test_every_problem_names_file_line_and_column_and_the_rest_still_applies(tmp_path: Path) -> None:
    path = _write(
        tmp_path,
        "scrub:\n"
        "  enabled: maybe\n"
        "  extra_patterns: ['(unclosed', 'ok=\\d+']\n"
        "  extra_param_names: ['a|b']\n"
        "  allowed_key: [x]\n",
    )
    settings, problems = load_scrub_settings(path, {})
    messages = [str(p) for p in problems]
    assert f"{path}:2:12: scrub.enabled must be true or false" in messages
    assert any(
        m.startswith(f"{path}:3:21: scrub.extra_patterns[0]: not a regular expression") for m in messages
    )
    assert any(
        m.startswith(f"{path}:4:24: scrub.extra_param_names[0]: parameter names may only") for m in messages
    )
    assert f"{path}:5:3: unknown key 'allowed_key' in scrub (did you mean 'allowed_keys'?)" in messages
    assert settings.enabled  # a bad value never turns scrubbing off
    assert settings.extra_patterns == ["ok=\\d+"]


@pytest.mark.parametrize(
    ("env", "section", "enabled"),
    [
        ({}, "", True),
        ({"OTELBUNDLE_SCRUB": "false"}, "", False),
        ({"OTELBUNDLE_SCRUB": "true"}, "scrub: {enabled: false}\n", False),
        ({}, "scrub: {enabled: false}\n", False),
        ({"OTELBUNDLE_SCRUB": "false"}, "scrub: {enabled: true}\n", False),
    ],
)
def test_off_by_the_variable_or_the_file(
    tmp_path: Path, env: dict[str, str], section: str, enabled: bool
) -> None:
    path = _write(tmp_path, section or "alerting: {}\n")
    assert (scrub.build_scrubber(load_scrub_settings(path, env)[0]) is not None) is enabled


def test_an_unreadable_file_keeps_the_built_in_rules(tmp_path: Path) -> None:
    scrubber = scrub.build_scrubber(load_scrub_settings(str(tmp_path / "missing.yaml"), {})[0])
    assert scrubber is not None and scrubber.text("?token=x") == "?token=REDACTED"


def test_the_variable_is_validated_like_the_other_flags() -> None:
    (problem,) = invalid_values({"OTELBUNDLE_SCRUB": "maybe"})
    assert problem.message() == "otelbundle: OTELBUNDLE_SCRUB='maybe' is not true or false; ignoring it."


def test_configure_passes_off_and_hooks_through() -> None:
    env: dict[str, str] = {}
    try:
        api._apply_options(env, **_no_options(), scrub_option=False)
        assert env["OTELBUNDLE_SCRUB"] == "false"

        def hook(where: str, value: str) -> str:
            return value.replace("INTERNAL", "REDACTED")

        api._apply_options(env, **_no_options(), scrub_option=hook)
        assert env["OTELBUNDLE_SCRUB"] == "true"
        scrubber = scrub.build_scrubber(load_scrub_settings(None, env)[0])
        assert scrubber is not None and scrubber.text("ref INTERNAL-1", "app.ref") == "ref REDACTED-1"
    finally:
        scrub.set_hook(None)


def _no_options() -> dict[str, None]:
    return dict.fromkeys(
        (
            "service_name",
            "endpoint",
            "protocol",
            "resource_attributes",
            "config_file",
            "log_correlation",
            "shutdown_timeout",
        )
    )


def test_a_pattern_that_backtracks_exponentially_is_refused_where_it_is_written(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Scrubbing reads every exported value with the GIL held: '(a+)+$' on 26 a's and a '!'
    froze every thread of an app for 6.8 s, so such a pattern is refused as rules' regexes are."""
    path = _write(tmp_path, "scrub:\n  extra_patterns: ['(a+)+$', '(\\d{1,3}\\.){3}\\d{1,3}']\n")
    settings, problems = load_scrub_settings(path, {})
    assert [str(p) for p in problems] == [
        f"{path}:2:21: scrub.extra_patterns[0]: '(a+)+' repeats without bound a group that holds a quantifier;"
        " Python's regexes backtrack, and such a group can take exponential time on a value that almost"
        " matches; write it so each character can match one way, e.g. [\\w.]+ for (\\w+\\.)+"
    ]
    assert settings.extra_patterns == ["(\\d{1,3}\\.){3}\\d{1,3}"]  # the other one applies

    assert main(["config", "check", path]) != 0
    assert "scrub.extra_patterns[0]: '(a+)+' repeats without bound" in capsys.readouterr().err


def test_a_quoted_boolean_says_why_it_is_refused(tmp_path: Path) -> None:
    path = _write(tmp_path, 'scrub:\n  enabled: "false"\n')
    settings, problems = load_scrub_settings(path, {})
    assert [str(p) for p in problems] == [
        f"{path}:2:13: scrub.enabled must be true or false (in quotes it is text: write false without quotes"
        " to read a boolean)"
    ]
    assert settings.enabled  # refused: scrubbing stays on


def test_a_pattern_that_can_match_an_empty_string_is_refused_with_its_position(tmp_path: Path) -> None:
    """Each empty match became REDACTED: `GET /users/42` was exported as `REDACTEDGREDACTEDE...`."""
    path = _write(
        tmp_path,
        "scrub:\n  extra_patterns:\n    - 'x*'\n    - '(?i)'\n    - '\\b'\n    - '\\d*'\n    - 'ok=\\d+'\n",
    )
    settings, problems = load_scrub_settings(path, {})
    messages = [str(p) for p in problems]
    for line, index, pattern in ((3, 0, "'x*'"), (4, 1, "'(?i)'"), (5, 2, "'\\\\b'"), (6, 3, "'\\\\d*'")):
        assert any(
            m.startswith(
                f"{path}:{line}:8: scrub.extra_patterns[{index}]: {pattern} can match an empty string"
            )
            for m in messages
        ), messages
    assert len(messages) == 4, messages
    assert settings.extra_patterns == ["ok=\\d+"]
    scrubber = scrub.build_scrubber(settings)
    assert scrubber is not None and scrubber.text("GET /users/42 ok=7") == "GET /users/42 REDACTED"
