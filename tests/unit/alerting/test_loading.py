"""Problems are reported with file:line:column, all at once; templates are checked at load."""

from __future__ import annotations

import re
import textwrap
from pathlib import Path

import pytest

from otelbundle.alerting.section import load_alerting_config
from otelbundle.alerting.templates import Context, TemplateError, parse_template
from otelbundle.cli import main
from otelbundle.config import ConfigError
from tests.unit.alerting.helpers import config_from

BAD = """\
groups:
  - name: g
    rules:
      - alert: A
        spans: {service: shop, knd: server}
        expr: error_rate > 5%
        window: 5 minutes
        for: 30s
        annotations: {summary: "{{ $labels.x | shout }}"}
      - alert: A
        expr: absent
        group_by: [http.route]
        spans:
          where:
            - duration >> 1s
"""


def test_every_problem_is_reported_with_its_position(tmp_path: Path) -> None:
    (tmp_path / "r.yaml").write_text(BAD)
    (tmp_path / "c.yaml").write_text("alerting:\n  rule_files: [r.yaml]\n  evaluation_intervl: 1s\n")
    with pytest.raises(ConfigError) as caught:
        load_alerting_config(str(tmp_path / "c.yaml"), {})
    lines = [str(p).replace(str(tmp_path) + "/", "") for p in caught.value.problems]
    assert (
        "c.yaml:3:3: unknown key 'evaluation_intervl' in alerting (did you mean 'evaluation_interval'?)"
        in lines
    )
    assert "r.yaml:5:32: unknown key 'knd' in spans (did you mean 'kind'?)" in lines
    assert any(line.startswith("r.yaml:6:15: expr: unknown aggregate 'error_rate'") for line in lines)
    assert any(line.startswith("r.yaml:7:17: window: '5 minutes' is not a duration") for line in lines)
    assert any(line.startswith("r.yaml:9:33: summary: template: unknown function 'shout'") for line in lines)
    assert not any(line.startswith("r.yaml:10:16: duplicate alert name") for line in lines)  # first A invalid
    assert any(line.startswith("r.yaml:12:9: group_by cannot be used with absent") for line in lines)
    assert any(line.startswith("r.yaml:15:25: where: expected a value") for line in lines)


def test_each_spans_value_that_is_not_text_is_said_not_only_the_first(tmp_path: Path) -> None:
    (tmp_path / "r.yaml").write_text(
        "groups:\n  - name: g\n    rules:\n      - {alert: A, spans: {service: 1, name: [x]}, expr: count > 1}\n"
    )
    (tmp_path / "c.yaml").write_text("alerting:\n  rule_files: [r.yaml]\n")
    with pytest.raises(ConfigError) as caught:
        load_alerting_config(str(tmp_path / "c.yaml"), {})
    lines = [str(p).replace(str(tmp_path) + "/", "") for p in caught.value.problems]
    assert lines == ["r.yaml:4:37: service must be a string", "r.yaml:4:46: name must be a string"]


def test_rules_check_cli(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "r.yaml").write_text(BAD)
    assert main(["rules", "check", str(tmp_path / "r.yaml")]) == 1
    assert f"{tmp_path}/r.yaml:6:15: expr: unknown aggregate" in capsys.readouterr().err
    assert main(["rules", "check", "examples/rules/otelbundle.yaml"]) == 0
    assert "SUCCESS: 8 rules found" in capsys.readouterr().out  # 5 rules and an SLO's 3 burn-rate rules


def test_templates_render_the_prometheus_subset() -> None:
    context = Context({"http_route": "/checkout", "alertname": "A"}, 0.1234, {"env": "prod"}, "abc")
    cases = {
        "{{ $labels.http_route }}": "/checkout",
        "{{ $value | humanizePercentage }}": "12.34%",
        '{{ printf "%.2f" $value }}': "0.12",
        '{{ $value | printf "%.1f" }}': "0.1",
        "{{ $externalLabels.env }}/{{ $exemplar.trace_id }}": "prod/abc",
        "{{ $value | humanizeDuration }}": "123.4ms",
        "{{ $labels.missing }}": "",
    }
    for source, expected in cases.items():
        assert parse_template(source).render(context) == expected, source


@pytest.mark.parametrize(
    "source",
    [
        "{{ .Labels.x }}",
        "{{ $labels.x | shout }}",
        "{{ $labels.x ",
        "{{ $value.__class__ }}",
        "{{ printf $value }}",
    ],
)
def test_templates_reject_anything_else(source: str) -> None:
    with pytest.raises(TemplateError):
        parse_template(source)


def test_rendered_span_data_is_never_a_template() -> None:
    hostile = {"http_route": "{{ $externalLabels.secret }}"}
    out = parse_template("{{ $labels.http_route }}").render(Context(hostile, 0, {"secret": "s3cr3t"}, ""))
    assert out == "{{ $externalLabels.secret }}"


def test_env_substitution_in_the_alerting_section(tmp_path: Path) -> None:
    (tmp_path / "r.yaml").write_text(
        textwrap.dedent("""\
        groups:
          - name: g
            rules: [{alert: A, expr: count > 1}]
    """)
    )
    (tmp_path / "c.yaml").write_text(
        "alerting:\n  rule_files: [r.yaml]\n  external_labels: {env: '${env:ENV:-dev}'}\n"
    )
    config = load_alerting_config(str(tmp_path / "c.yaml"), {"ENV": "prod"})
    assert config is not None and config.external_labels == {"env": "prod"}


def test_span_queue_size_is_read_and_checked(tmp_path: Path) -> None:
    (tmp_path / "r.yaml").write_text("groups: []\n")
    (tmp_path / "c.yaml").write_text("alerting:\n  rule_files: [r.yaml]\n  span_queue_size: 100\n")
    config = load_alerting_config(str(tmp_path / "c.yaml"), {})
    assert config is not None and config.span_queue_size == 100
    (tmp_path / "c.yaml").write_text("alerting:\n  rule_files: [r.yaml]\n  span_queue_size: 0\n")
    with pytest.raises(ConfigError) as caught:
        load_alerting_config(str(tmp_path / "c.yaml"), {})
    assert [str(p).replace(str(tmp_path) + "/", "") for p in caught.value.problems] == [
        "c.yaml:3:20: span_queue_size must be a positive integer"
    ]


ANNOTATION_NAMES = """\
groups:
  - name: g
    rules:
      - alert: CheckoutErrors
        expr: error_ratio > 5%
        annotations:
          summary: "x"
          runbook-url: "https://runbooks/x"
          runbook.url: "https://runbooks/x"
          2nd: "y"
"""


def test_an_annotation_name_alertmanager_refuses_is_reported_where_it_is(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Alertmanager answers 400 to the whole batch for one such name, so `rules check` says so."""
    (tmp_path / "r.yaml").write_text(ANNOTATION_NAMES)
    assert main(["rules", "check", str(tmp_path / "r.yaml")]) == 1
    err = capsys.readouterr().err.replace(f"{tmp_path}/", "")
    rule = "Alertmanager refuses it: letters, digits and '_', not starting with a digit"
    assert err.splitlines() == [
        "Checking r.yaml",
        "  FAILED:",
        f"r.yaml:8:11: annotations: invalid annotation name: 'runbook-url' ({rule}; e.g. 'runbook_url')",
        f"r.yaml:9:11: annotations: invalid annotation name: 'runbook.url' ({rule}; e.g. 'runbook_url')",
        f"r.yaml:10:11: annotations: invalid annotation name: '2nd' ({rule}; e.g. '_2nd')",
    ]


def test_the_annotations_otelbundle_adds_are_valid_names() -> None:
    """Evidence, trace ids and an SLO's burn-rate annotations reach Alertmanager too."""
    from types import SimpleNamespace

    from otelbundle.alerting.alert import EVIDENCE_ANNOTATIONS
    from otelbundle.alerting.rule_files import load_rule_file

    defaults = SimpleNamespace(evaluation_interval=1.0, max_group_keys=100)
    slo_rules = [r for g in load_rule_file("examples/rules/checkout.slos.yaml", defaults) for r in g.rules]
    names = {*EVIDENCE_ANNOTATIONS, "trace_ids", *(k for r in slo_rules for k in r.annotations)}
    assert {"summary", "description", "error_budget_remaining", "exception"} <= names
    assert all(re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", name) for name in names), names


def test_a_name_ending_in_a_newline_is_not_a_valid_name(tmp_path: Path) -> None:
    """A regex ending in $ matches before a final newline; Alertmanager does not."""
    (tmp_path / "r.yaml").write_text(
        "groups:\n  - name: g\n    rules:\n      - alert: A\n        expr: error_ratio > 5%\n"
        '        labels: {"team\\n": x}\n        annotations: {"runbook\\n": y}\n'
    )
    (tmp_path / "c.yaml").write_text("alerting:\n  rule_files: [r.yaml]\n")
    with pytest.raises(ConfigError) as caught:
        load_alerting_config(str(tmp_path / "c.yaml"), {})
    lines = [str(p).replace(str(tmp_path) + "/", "") for p in caught.value.problems]
    assert lines[0] == "r.yaml:6:19: labels: 'team\\n' is not a valid label name"
    assert lines[1].startswith("r.yaml:7:24: annotations: invalid annotation name: 'runbook\\n'")


def _two_files(tmp_path: Path, first: str, second: str) -> list[str]:
    (tmp_path / "a.yaml").write_text(textwrap.dedent(first))
    (tmp_path / "b.yaml").write_text(textwrap.dedent(second))
    (tmp_path / "c.yaml").write_text("alerting:\n  rule_files: [a.yaml, b.yaml]\n")
    try:
        config = load_alerting_config(str(tmp_path / "c.yaml"), {})
    except ConfigError as caught:
        return [str(p).replace(str(tmp_path) + "/", "") for p in caught.problems]
    assert config is not None
    return []


RULE_IN_GROUP_API = """\
groups:
  - name: api
    rules:
      - {{alert: {alert}, spans: {{service: {service}}}, expr: p95 > 500ms}}
"""


def test_one_group_and_alert_name_in_two_rule_files_is_refused_where_the_second_is(tmp_path: Path) -> None:
    """Rules are known by (group, alert): the second would silently replace the first, while
    config check counted both."""
    problems = _two_files(
        tmp_path,
        RULE_IN_GROUP_API.format(alert="Slow", service="a"),
        "# the b team's rules\n" + RULE_IN_GROUP_API.format(alert="Slow", service="b"),
    )
    assert problems == [
        "b.yaml:5:1: alert 'Slow' of group 'api' is also at "
        "a.yaml:4 (a group of that name in another rule file): the two would be one rule; "
        "rename one of the groups"
    ]


def test_one_group_name_in_two_rule_files_with_other_alerts_is_two_groups_of_rules(tmp_path: Path) -> None:
    assert (
        _two_files(
            tmp_path,
            RULE_IN_GROUP_API.format(alert="Slow", service="a"),
            RULE_IN_GROUP_API.format(alert="Errors", service="b"),
        )
        == []
    )
    config = load_alerting_config(str(tmp_path / "c.yaml"), {})
    assert config is not None
    assert sorted((rule.group, rule.name) for rule in config.rules) == [("api", "Errors"), ("api", "Slow")]


def test_one_slo_name_in_two_rule_files_is_refused_once(tmp_path: Path) -> None:
    slo = """\
    slos:
      - name: checkout
        spans: {service: storefront, kind: server}
        objective: 99%
        period: 30d
    """
    assert _two_files(tmp_path, slo, slo) == [
        "b.yaml:2:1: SLO 'checkout' is also at a.yaml:2: the two would be one SLO; rename one"
    ]


def test_a_rule_file_two_globs_match_is_read_once(tmp_path: Path) -> None:
    """`rule_files: [a.yaml, "*.yaml"]` read a.yaml twice, and its every rule collided with
    itself: the app refused all its alert rules (Prometheus reads such a file once)."""
    (tmp_path / "rules").mkdir()
    (tmp_path / "rules" / "a.yaml").write_text(RULE_IN_GROUP_API.format(alert="Slow", service="a"))
    (tmp_path / "rules" / "b.yaml").write_text(RULE_IN_GROUP_API.format(alert="Errors", service="b"))
    (tmp_path / "c.yaml").write_text(
        'alerting:\n  rule_files: [rules/a.yaml, "rules/*.yaml", ./rules/b.yaml]\n'
    )
    config = load_alerting_config(str(tmp_path / "c.yaml"), {})
    assert config is not None
    assert [Path(file).name for file in config.rule_files] == ["a.yaml", "b.yaml"]
    assert sorted(rule.name for rule in config.rules) == ["Errors", "Slow"]


def test_label_and_annotation_values_are_text_as_prometheus_reads_them(tmp_path: Path) -> None:
    """A list or mapping became its Python repr ("['a', 'b']") and `true` became "True": a
    matcher `page="true"` never matched the alert."""
    (tmp_path / "r.yaml").write_text(
        "groups:\n  - name: g\n    rules:\n      - alert: A\n        expr: error_ratio > 5%\n"
        "        labels: {page: true, tier: 1, team: null}\n        annotations: {quiet: false}\n"
    )
    (tmp_path / "c.yaml").write_text("alerting:\n  rule_files: [r.yaml]\n  external_labels: {canary: true}\n")
    config = load_alerting_config(str(tmp_path / "c.yaml"), {})
    assert config is not None and config.external_labels == {"canary": "true"}
    [rule] = config.rules
    assert rule.labels == {"page": "true", "tier": "1", "team": ""}
    assert rule.annotations["quiet"].render(Context({}, 0.0, {}, "")) == "false"
    (tmp_path / "r.yaml").write_text(
        "groups:\n  - name: g\n    rules:\n      - alert: A\n        expr: error_ratio > 5%\n"
        "        labels: {severity: [page, ticket]}\n        annotations: {runbook: {url: x}}\n"
    )
    with pytest.raises(ConfigError) as caught:
        load_alerting_config(str(tmp_path / "c.yaml"), {})
    assert [str(p).replace(str(tmp_path) + "/", "") for p in caught.value.problems] == [
        "r.yaml:6:28: labels: 'severity' must be text, not a list",
        "r.yaml:7:32: annotations: 'runbook' must be text, not a mapping",
    ]


def test_an_evaluation_interval_shorter_than_10ms_is_refused(tmp_path: Path) -> None:
    """`interval: 1ns` was accepted: the alert thread then evaluated without pause, a whole core
    (and the GIL) of the application's, measured at 1.98 s of CPU in 2 s."""
    (tmp_path / "r.yaml").write_text(
        "groups:\n  - name: a\n    interval: 1ns\n    rules: []\n"
        "  - name: b\n    interval: 10ms\n    rules: []\n"
    )
    (tmp_path / "c.yaml").write_text("alerting:\n  rule_files: [r.yaml]\n  evaluation_interval: 0.001\n")
    with pytest.raises(ConfigError) as caught:
        load_alerting_config(str(tmp_path / "c.yaml"), {})
    assert [str(p).replace(str(tmp_path) + "/", "") for p in caught.value.problems] == [
        "c.yaml:3:24: evaluation_interval: 0.001 is shorter than 10ms, the shortest evaluation "
        "interval (the alert thread would evaluate without pause)",
        "r.yaml:3:15: interval: '1ns' is shorter than 10ms, the shortest evaluation interval "
        "(the alert thread would evaluate without pause)",
    ]


def test_a_templated_rule_label_is_refused_where_it_is_written(tmp_path: Path) -> None:
    """Prometheus expands rule labels at each evaluation (a new alert when $value changes);
    sent as written, every alert would carry the literal text."""
    rules = """
groups:
  - name: g
    rules:
      - alert: A
        spans: {service: shop}
        expr: error_count > 0
        labels:
          severity: page
          route: "{{ $labels.http_route }}"
"""
    with pytest.raises(ConfigError) as raised:
        config_from(tmp_path, rules)
    (problem,) = raised.value.problems
    assert (problem.mark.line, problem.mark.column) == (10, 19)
    assert problem.message.startswith("labels: 'route' is a template; rule labels are fixed here")


WARNING = "{alert: HighErrors, spans: {service: shop}, expr: error_ratio > 0.05, labels: {severity: warning}}"
CRITICAL = (
    "{alert: HighErrors, spans: {service: shop}, expr: error_ratio > 0.2, labels: {severity: critical}}"
)


def test_severity_tiers_of_one_alert_name_load_from_groups_of_their_own(tmp_path: Path) -> None:
    """Prometheus writes tiers as two rules of one group; here that is a located problem whose
    hint works: the same two rules in two groups load, each keeping the alert name."""
    (tmp_path / "r.yaml").write_text(
        f"groups:\n  - name: api\n    rules:\n      - {WARNING}\n      - {CRITICAL}\n"
    )
    (tmp_path / "c.yaml").write_text("alerting:\n  rule_files: [r.yaml]\n")
    with pytest.raises(ConfigError) as caught:
        load_alerting_config(str(tmp_path / "c.yaml"), {})
    [problem] = [str(p).replace(str(tmp_path) + "/", "") for p in caught.value.problems]
    assert problem.startswith("r.yaml:5:17: duplicate alert name 'HighErrors' in group 'api': "), problem
    assert "groups of their own" in problem
    (tmp_path / "r.yaml").write_text(
        f"groups:\n  - name: api-warning\n    rules:\n      - {WARNING}\n"
        f"  - name: api-critical\n    rules:\n      - {CRITICAL}\n"
    )
    config = load_alerting_config(str(tmp_path / "c.yaml"), {})
    assert config is not None
    assert [(r.group, r.name, r.labels["severity"]) for r in config.rules] == [
        ("api-warning", "HighErrors", "warning"),
        ("api-critical", "HighErrors", "critical"),
    ]
