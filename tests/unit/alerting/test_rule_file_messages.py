"""What a user reads about where rules go: rules written inline, `rule_files` not a list, a glob
that matches the config itself or a rule test file, a threshold that is not one; and what a
rule of only `alert:` and `expr:` means (alerting.md's table of defaults)."""

from __future__ import annotations

import textwrap
from pathlib import Path

from otelbundle.alerting.rules import SpanMatcher
from otelbundle.alerting.section import read_alerting_config

RULES = """\
groups:
  - name: g
    rules:
      - {alert: AnyErrors, expr: error_count > 0}
"""


def problems_in(folder: Path, config: str, **files: str) -> list[str]:
    for name, text in files.items():
        (folder / name.replace("_", ".")).write_text(textwrap.dedent(text))
    path = folder / "otelbundle.yaml"
    path.write_text(textwrap.dedent(config))
    _, problems = read_alerting_config(str(path), {})
    return [str(p).removeprefix(f"{folder}/") for p in problems]


def test_groups_under_alerting_says_rules_go_in_rule_files(tmp_path: Path) -> None:
    """It was `unknown key 'groups' in alerting (did you mean 'max_group_keys'?)`."""
    problems = problems_in(tmp_path, "alerting:\n  groups: []\n  slos: []\n")
    assert problems == [
        "otelbundle.yaml:2:3: alert rules are not written in otelbundle.yaml: 'groups:' goes at the top "
        'of a rule file that alerting.rule_files names, e.g. rule_files: ["rules.yaml"]',
        "otelbundle.yaml:3:3: SLOs are not written in otelbundle.yaml: 'slos:' goes at the top "
        'of a rule file that alerting.rule_files names, e.g. rule_files: ["rules.yaml"]',
    ]


def test_rule_files_not_a_list_shows_the_list_to_write(tmp_path: Path) -> None:
    assert problems_in(tmp_path, "alerting:\n  rule_files: rules/a.yaml\n") == [
        'otelbundle.yaml:2:15: rule_files must be a list of globs: write rule_files: ["rules/a.yaml"]'
    ]
    assert problems_in(tmp_path, "alerting:\n  rule_files: {a: 1}\n") == [
        'otelbundle.yaml:2:15: rule_files must be a list of globs: write rule_files: ["rules.yaml"]'
    ]


def test_a_glob_that_matches_the_config_itself_skips_it(tmp_path: Path) -> None:
    """`rule_files: ["*.yaml"]` beside otelbundle.yaml gave `otelbundle.yaml:1:1: a rule file
    needs a top-level 'groups:' or 'slos:' list`: the config is not one of the rule files."""
    (tmp_path / "rules.yaml").write_text(RULES)
    path = tmp_path / "otelbundle.yaml"
    path.write_text('alerting:\n  rule_files: ["*.yaml"]\n')
    config, problems = read_alerting_config(str(path), {})
    assert problems == []
    assert config is not None
    assert [rule.name for rule in config.rules] == ["AnyErrors"]
    assert config.rule_files == [str(tmp_path / "rules.yaml")]


def test_a_glob_that_matches_only_the_config_says_so(tmp_path: Path) -> None:
    assert problems_in(tmp_path, 'alerting:\n  rule_files: ["otelbundle.*"]\n') == [
        "otelbundle.yaml:2:17: rule_files: 'otelbundle.*' matches only this config file, which is not a rule file"
    ]


def test_a_glob_that_matches_a_rule_test_file_names_the_glob_and_the_file(tmp_path: Path) -> None:
    problems = problems_in(
        tmp_path,
        'alerting:\n  rule_files: ["r*.yaml"]\n',
        rules_yaml=RULES,
        rules_test_yaml="rule_files: [rules.yaml]\ntests: []\n",
        readme_yaml="title: not rules\n",
    )
    assert problems == [
        "otelbundle.yaml:2:17: rule_files: 'r*.yaml' matched readme.yaml: a rule file needs a top-level "
        "'groups:' or 'slos:' list",
        "otelbundle.yaml:2:17: rule_files: 'r*.yaml' matched rules.test.yaml: a rule test file (tests:), "
        "not rules: `otelbundle rules test` runs it",
    ]


def test_a_threshold_that_is_not_one_says_what_a_threshold_is(tmp_path: Path) -> None:
    """It was `bad threshold 'five': could not convert string to float: 'five'` (Python's words)."""
    rules = "groups:\n  - name: g\n    rules:\n      - {alert: A, expr: error_ratio > five}\n      - {alert: B, expr: error_ratio > x%}\n"
    problems = problems_in(tmp_path, 'alerting:\n  rule_files: ["rules.yaml"]\n', rules_yaml=rules)
    hint = "write a number (0.05, 2, 1e3), a percentage (5%) or a duration (300ms, 1m)"
    assert problems == [
        f"rules.yaml:4:26: expr: bad threshold 'five': {hint}",
        f"rules.yaml:5:26: expr: bad threshold 'x%': {hint}",
    ]


def test_a_rule_of_only_alert_and_expr_takes_the_documented_defaults(tmp_path: Path) -> None:
    """alerting.md's table: every span, a 1m window, min_spans 1, no for, no group_by."""
    (tmp_path / "rules.yaml").write_text(RULES)
    path = tmp_path / "otelbundle.yaml"
    path.write_text('alerting:\n  rule_files: ["rules.yaml"]\n')
    config, problems = read_alerting_config(str(path), {})
    assert problems == [] and config is not None
    (rule,) = config.rules
    assert rule.matcher == SpanMatcher()
    assert (rule.window, rule.min_spans, rule.for_, rule.keep_firing_for) == (60.0, 1, 0.0, 0.0)
    assert rule.group_by == () and rule.labels == {} and rule.errors_where is None
    assert rule.interval == config.evaluation_interval == 1.0


def test_alerting_md_states_the_defaults_the_rule_takes() -> None:
    """The defaults above were in no doc: a rule of `alert:` and `expr:` passed `rules check`,
    and a reader could not tell which spans it counted or over how long."""
    doc = (Path(__file__).parents[3] / "docs" / "alerting.md").read_text()
    for row in (
        "| `spans` | every span this process ends",
        "| `window` | `1m` (60 s) |",
        "| `min_spans` | `1`:",
        "| `for`, `keep_firing_for` | `0s`:",
    ):
        assert row in doc, row


def test_an_empty_rule_file_is_a_file_of_no_rules_as_rules_check_says(tmp_path: Path) -> None:
    """`rules check` (as promtool) says `SUCCESS: 0 rules found` of an empty file; at start, at a
    reload and in `config check` it was `matched placeholder.yaml: a rule file needs a top-level
    'groups:' or 'slos:' list`, and that one problem turned off every rule."""
    (tmp_path / "rules").mkdir()
    (tmp_path / "rules" / "a.yaml").write_text(RULES)
    (tmp_path / "rules" / "placeholder.yaml").write_text("")
    (tmp_path / "rules" / "later.yaml").write_text("# the payments team's rules go here\n\n")
    path = tmp_path / "otelbundle.yaml"
    path.write_text('alerting:\n  rule_files: ["rules/*.yaml"]\n')
    config, problems = read_alerting_config(str(path), {})
    assert [str(p) for p in problems] == []
    assert config is not None and [rule.name for rule in config.rules] == ["AnyErrors"]
    assert len(config.rule_files) == 3  # still watched: rules written there later are loaded
