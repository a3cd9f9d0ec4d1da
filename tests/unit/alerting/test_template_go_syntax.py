"""Go text/template syntax Prometheus rule files use: trim markers ``{{- -}}`` and the call form
``{{ humanize $value }}``. Expected outputs are promtool 2.42's (the differential at the end runs
it when installed, with the label values of test_label_values_as_written.py).
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest
import yaml
from hypothesis import given
from hypothesis import strategies as st

from otelbundle.alerting.section import load_alerting_config
from otelbundle.alerting.templates import PIPES, Context, TemplateError, parse_template
from otelbundle.cli import main
from tests.unit.alerting.test_label_values_as_written import LABELS, rule_file

CONTEXT = Context({"n": "0.25", "s": "text"}, 3.0, {}, "")

TRIMMED = {
    "x  {{- $value -}}  y": "x3y",
    "x  {{ $value -}}  y": "x  3y",
    "x \n\t {{- $value }}  y": "x3  y",
    "{{ $value -}} \n {{- $value }}": "33",
    "a\n  {{-\t$value\n-}}\n  b": "a3b",  # tab and newline count as Go's white space
    "a\u00a0{{- $value }}": "a\u00a03",  # not Unicode white space: Go trims " \t\r\n" only
    "{{ $value }} - {{ $value }}": "3 - 3",  # a dash in the text is text
}


@pytest.mark.parametrize(("source", "expected"), TRIMMED.items())
def test_trim_markers_remove_the_white_space_beside_the_action(source: str, expected: str) -> None:
    """``x  {{- $value -}}  y`` rendered ``x  3  y``: the dashes were read and their trim dropped."""
    assert parse_template(source).render(CONTEXT) == expected


def test_a_dash_without_white_space_after_it_is_not_a_trim_marker() -> None:
    """``{{-3}}`` is the number -3 in Go (no trim); it is not an expression here, and says so."""
    with pytest.raises(TemplateError, match="unknown template expression '-3'") as caught:
        parse_template("a {{-3}} b")
    assert caught.value.column == 3


CALLS = {
    "{{ humanize $value }}": "{{ $value | humanize }}",
    "{{humanizePercentage $labels.n}}": "{{ $labels.n | humanizePercentage }}",
    "{{ humanizeDuration   $value }}": "{{ $value | humanizeDuration }}",
    "{{ humanize $labels.n }}": "{{ $labels.n | humanize }}",
    '{{ humanize $value | printf "%.3s" }}': '{{ $value | humanize | printf "%.3s" }}',
}


@pytest.mark.parametrize(("call", "pipe"), CALLS.items())
def test_the_call_form_renders_as_the_pipeline_form(call: str, pipe: str) -> None:
    """``{{ humanize $value }}``, Prometheus' usual form, was refused as an unknown expression."""
    assert parse_template(call).render(CONTEXT) == parse_template(pipe).render(CONTEXT)


@given(
    st.sampled_from(sorted(PIPES)),
    st.floats(allow_nan=True, allow_infinity=True) | st.sampled_from([0.0, 1234567.0, 0.12, 90.0]),
)
def test_every_function_renders_the_same_in_both_forms(name: str, value: float) -> None:
    context = Context({}, value, {}, "")
    call = parse_template(f"{{{{ {name} $value }}}}")
    assert call.render(context) == parse_template(f"{{{{ $value | {name} }}}}").render(context)


@pytest.mark.parametrize(
    ("source", "message"),
    [
        ("{{ toUpper $labels.s }}", "unknown function 'toUpper'; known: humanize, humanizePercentage"),
        ("{{ humanize }}", "humanize takes one variable"),
        ("{{ humanize $value $value }}", "humanize takes one variable"),
        ("{{ humanize 3 }}", "humanize takes one variable"),
        ("{{ $value | toUpper }}", "unknown function 'toUpper'"),
    ],
)
def test_other_calls_are_refused_naming_the_supported_forms(source: str, message: str) -> None:
    with pytest.raises(TemplateError, match=message) as caught:
        parse_template(f"x {source}")
    assert "{{ humanize $value }}, {{ $value | humanize }}" in str(caught.value)
    assert caught.value.column == 3


def test_rules_check_locates_an_unknown_call(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """At the ``{{`` of the action (the column was one past it)."""
    (tmp_path / "r.yaml").write_text(
        "groups:\n  - name: g\n    rules:\n      - alert: A\n        expr: error_count > 0\n"
        "        annotations:\n          summary: 'Errors: {{ title $labels.x }}'\n"
    )
    assert main(["rules", "check", str(tmp_path / "r.yaml")]) == 1
    err = capsys.readouterr().err
    assert f"{tmp_path}/r.yaml:7:29: summary: template: unknown function 'title'; known: humanize," in err
    assert "(forms: {{ $value }}, {{ humanize $value }}, {{ $value | humanize }}" in err


ANNOTATIONS = {
    **{f"t{i}": source for i, source in enumerate(TRIMMED)},
    **{f"c{i}": call for i, call in enumerate(CALLS)},
}


@pytest.mark.skipif(shutil.which("promtool") is None, reason="promtool (Debian prometheus) not installed")
def test_promtool_renders_the_same_labels_and_annotations(tmp_path: Path) -> None:
    """The same labels and annotations in a Prometheus rule file: promtool expects what we render."""
    annotations = yaml.safe_dump(ANNOTATIONS, default_flow_style=True, width=10_000).strip()
    (tmp_path / "ours.yaml").write_text(rule_file(LABELS, annotations, "error_count > 0"))
    (tmp_path / "c.yaml").write_text("alerting:\n  rule_files: [ours.yaml]\n")
    config = load_alerting_config(str(tmp_path / "c.yaml"), {})
    assert config is not None
    [rule] = config.rules
    context = Context({"alertname": "A", "n": "0.25", "s": "text"}, 3.0, {}, "")
    expected = {
        "exp_labels": {"n": "0.25", "s": "text", **{k: v for k, v in rule.labels.items() if v}},
        "exp_annotations": {key: template.render(context) for key, template in rule.annotations.items()},
    }
    (tmp_path / "prom.yaml").write_text(rule_file(LABELS, annotations, "v > 0"))
    test = {
        "rule_files": ["prom.yaml"],
        "tests": [
            {
                "interval": "1m",
                "input_series": [{"series": 'v{n="0.25", s="text"}', "values": "3"}],
                "alert_rule_test": [{"eval_time": "0s", "alertname": "A", "exp_alerts": [expected]}],
            }
        ],
    }
    (tmp_path / "t.yaml").write_text(yaml.safe_dump(test))
    result = subprocess.run(
        ["promtool", "test", "rules", "t.yaml"], cwd=tmp_path, capture_output=True, text=True
    )
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]


HUMANIZE_ALL = (
    "{{ $labels.x | humanize }}|{{ $labels.x | humanizeDuration }}|{{ $labels.x | humanizePercentage }}"
)


@pytest.mark.parametrize(
    ("label", "shown"),
    [
        # Go's ParseFloat reads a hexadecimal float, so Prometheus humanizes it (promtool 2.42:
        # 250m|250ms|25%); Python's float() did not, and printed it as text.
        ("0x1p-2", "250m|250ms|25%"),
        ("+0X1.8P+1", "3|3s|300%"),
        ("1_000", "1k|16m 40s|1e+05%"),  # underscores between digits, as in Go literals
        # Go refuses these (invalid syntax, out of range): not numbers, so printed unchanged,
        # where float() read a space, other scripts' digits and 1e500 as inf.
        (" 5", " 5| 5| 5"),
        ("1__000", "1__000|1__000|1__000"),
        ("0x10", "0x10|0x10|0x10"),
        ("١٢", "١٢|١٢|١٢"),
        ("1e500", "1e500|1e500|1e500"),
    ],
)
def test_humanize_reads_a_label_as_a_number_only_where_go_does(label: str, shown: str) -> None:
    assert parse_template(HUMANIZE_ALL).render(Context({"x": label}, 0.0, {}, "")) == shown


@pytest.mark.parametrize("template", ["{{ if $value }}high{{ end }}", "{{ range $labels }}x{{ end }}"])
def test_go_actions_are_said_to_be_actions_not_unknown_functions(template: str) -> None:
    with pytest.raises(TemplateError, match=r"Go template actions are not supported here") as raised:
        parse_template(template)
    assert raised.value.column == 1
