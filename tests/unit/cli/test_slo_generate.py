"""`otelbundle slo generate`: Prometheus rules that promtool accepts, and tests that prove them."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from otelbundle.alerting.slo.prometheus import BUCKETS_MS
from otelbundle.cli import main

ROOT = Path(__file__).resolve().parents[3]
needs_promtool = pytest.mark.skipif(
    shutil.which("promtool") is None, reason="promtool (Debian prometheus) not installed"
)

VARIANTS = """
slos:
  - name: checkout-availability
    spans: {service: storefront, kind: server, name: "POST /checkout"}
    objective: 99%
  - name: api-latency
    spans: {service: "shop-*", kind: server}
    objective: 99.9%
    period: 28d
    good_if_faster_than: 800ms
    alert: ApiSlow
    labels: {team: api}
  - name: batch-jobs
    spans: {service: jobs, kind: consumer, name: process}
    objective: 90%
"""


def generate(tmp_path: Path, slos: str, *extra: str) -> tuple[int, str]:
    (tmp_path / "s.slos.yaml").write_text(slos)
    code = main(
        [
            "slo",
            "generate",
            str(tmp_path / "s.slos.yaml"),
            "--prometheus",
            str(tmp_path / "rules.yaml"),
            "--tests",
            str(tmp_path / "rules_test.yaml"),
            *extra,
        ]
    )
    return code, (tmp_path / "rules.yaml").read_text() if code == 0 else ""


def promtool(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["promtool", *args], capture_output=True, text=True, check=False)


@needs_promtool
def test_generated_rules_pass_promtool_check_and_their_generated_tests(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, _ = generate(tmp_path, VARIANTS, "--label", "source=prometheus")
    assert code == 0
    err = capsys.readouterr().err
    assert "good_if_faster_than 800ms is not a span metrics bucket bound" in err
    assert "the page-1h alert needs more than 100 % bad spans" in err  # 90 %: 14.4 x 10 % > 100 %
    check = promtool("check", "rules", str(tmp_path / "rules.yaml"))
    assert check.returncode == 0, check.stdout + check.stderr
    assert "SUCCESS: 30 rules found" in check.stdout  # (6 ratios + budget + 3 alerts) x 3
    result = promtool("test", "rules", str(tmp_path / "rules_test.yaml"))
    assert result.returncode == 0, result.stdout + result.stderr
    tests = yaml.safe_load((tmp_path / "rules_test.yaml").read_text())["tests"]
    assert (
        len(tests) == 3 + 4 + 2
    )  # latency adds "slow spans alone"; 90 % cannot page on a burst after an hour
    alert = next(t for t in tests if t["name"].startswith("api-latency: a burst"))["alert_rule_test"][0]
    assert {a["exp_labels"]["long_window"] for a in alert["exp_alerts"]} == {"1h", "6h", "3d"}
    assert all(a["exp_labels"]["source"] == "prometheus" for a in alert["exp_alerts"])


@needs_promtool
@pytest.mark.parametrize(
    ("wrong", "right"),
    [
        ("> 14.4\n", "> 30\n"),  # a wrong burn rate
        (
            'ratio_rate5m{slo="checkout-availability"} / 0.01 > 14.4',
            'ratio_rate30m{slo="checkout-availability"} / 0.01 > 14.4',
        ),
        (
            'status_code="STATUS_CODE_ERROR"}[1h]',
            'status_code="STATUS_CODE_UNSET"}[1h]',
        ),  # counts the good ones
        ('le="500"}[5m]', 'le="1000"}[5m]'),  # the latency threshold's bucket
    ],
)
def test_the_generated_tests_fail_on_a_wrong_rule(tmp_path: Path, wrong: str, right: str) -> None:
    code, rules = generate(tmp_path, VARIANTS)
    assert code == 0 and wrong in rules
    (tmp_path / "rules.yaml").write_text(rules.replace(wrong, right, 1))
    assert promtool("test", "rules", str(tmp_path / "rules_test.yaml")).returncode == 1


def test_an_slo_span_metrics_cannot_express_is_left_out_with_a_note(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    slos = (
        VARIANTS
        + "  - name: posts\n    spans: {service: shop, where: ['http.request.method == \"POST\"']}\n    objective: 99%\n"
    )
    code, rules = generate(tmp_path, slos)
    assert code == 0
    assert "slo-posts" not in rules
    assert "SLO posts" in capsys.readouterr().err


def test_the_service_glob_and_the_bucket_bound_below_the_threshold(tmp_path: Path) -> None:
    code, rules = generate(tmp_path, VARIANTS)
    assert code == 0
    assert 'service_name=~"shop\\\\-.*"' in rules  # shop-* as an anchored RE2 regex
    assert 'status_code!="STATUS_CODE_ERROR", le="500"}' in rules  # 800ms: the 500ms bucket


def test_bad_input_exits_1_with_the_location(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, _ = generate(tmp_path, "slos:\n  - name: x\n    spans: {service: a}\n    objective: 101%\n")
    assert code == 1
    assert "s.slos.yaml:4:16: objective: '101%' is outside 0%..100%" in capsys.readouterr().err
    code, _ = generate(tmp_path, VARIANTS, "--label", "severity=high")
    assert code == 1
    assert "--label severity: set by the burn-rate alerts themselves" in capsys.readouterr().err


def test_the_shipped_prometheus_slo_rules_are_generated_from_the_example_slo(tmp_path: Path) -> None:
    """deploy/prometheus/rules/slo.yaml and its tests are what the generator makes of examples/rules/checkout.slos.yaml."""
    rules, tests = ROOT / "deploy/prometheus/rules/slo.yaml", ROOT / "deploy/prometheus/tests/slo_test.yaml"
    out_rules, out_tests = tmp_path / "rules" / "slo.yaml", tmp_path / "tests" / "slo_test.yaml"
    out_rules.parent.mkdir()
    out_tests.parent.mkdir()
    source = "examples/rules/checkout.slos.yaml"
    args = ["slo", "generate", source, "--label", "source=prometheus"]
    assert main([*args, "--prometheus", str(out_rules), "--tests", str(out_tests)]) == 0
    hint = f"regenerate: otelbundle {' '.join(args)} --prometheus {rules.relative_to(ROOT)} --tests {tests.relative_to(ROOT)}"
    assert out_rules.read_text() == rules.read_text(), hint
    assert out_tests.read_text() == tests.read_text(), hint


def test_the_default_buckets_are_the_collectors() -> None:
    config = yaml.safe_load((ROOT / "otel-collector" / "config.yaml").read_text())
    buckets = config["connectors"]["span_metrics"]["histogram"]["explicit"]["buckets"]
    as_ms = [float(b[:-2]) if b.endswith("ms") else float(b[:-1]) * 1000 for b in buckets]
    assert tuple(as_ms) == BUCKETS_MS


@needs_promtool
def test_label_values_are_text_in_prometheus_as_in_process(tmp_path: Path) -> None:
    """Prometheus expands alert label values as templates; ours are text. A label "{{team}}" made
    the generated file one promtool refuses ('function "team" not defined')."""
    slos = VARIANTS.replace("labels: {team: api}", 'labels: {team: "{{team}} a{{{ \\"b\\" }}"}')
    code, _ = generate(tmp_path, slos, "--label", "note={{ $value }}")
    assert code == 0
    assert promtool("check", "rules", str(tmp_path / "rules.yaml")).returncode == 0
    tests = yaml.safe_load((tmp_path / "rules_test.yaml").read_text())
    expected = {
        (labels["team"], labels["note"])
        for test in tests["tests"]
        for check in test["alert_rule_test"]
        for alert in check["exp_alerts"]
        if "team" in (labels := alert["exp_labels"])
    }
    assert expected == {('{{team}} a{{{ "b" }}', "{{ $value }}")}  # what promtool must see rendered
    result = promtool("test", "rules", str(tmp_path / "rules_test.yaml"))
    assert result.returncode == 0, result.stdout + result.stderr


@needs_promtool
@pytest.mark.parametrize(
    ("name_regex", "unsupported"),
    [
        ("^GET (?!/health)", "a negative lookahead (?!...)"),
        ("(a)\\1", "\\1 (a backreference, or Python's octal escape)"),
        ("(?x) GET", "the flag 'x' (RE2 knows i, m and s)"),
        ("caf\\u00e9", "a \\u escape (RE2 writes \\x{...})"),
        ("a{,3}", "a{,n} (RE2 reads it as text; write {0,n})"),
    ],
)
def test_a_name_regex_prometheus_cannot_read_leaves_the_slo_out_with_a_note(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], name_regex: str, unsupported: str
) -> None:
    """name_regex is Python's re; Prometheus' is RE2. A lookahead made rules promtool refuses."""
    slos = (
        VARIANTS
        + f"  - name: gets\n    spans: {{service: shop, name_regex: {json.dumps(name_regex)}}}\n    objective: 99%\n"
    )
    code, rules = generate(tmp_path, slos)
    assert code == 0
    assert "slo-gets" not in rules
    assert f"SLO gets ({tmp_path}/s.slos.yaml:" in (err := capsys.readouterr().err)
    assert f"name_regex uses {unsupported}, which Prometheus' regular expressions (RE2)" in err
    assert promtool("check", "rules", str(tmp_path / "rules.yaml")).returncode == 0


@needs_promtool
def test_a_name_regex_within_re2_is_written_and_loads(tmp_path: Path) -> None:
    slos = (
        VARIANTS
        + "  - name: gets\n    spans: {service: shop, name_regex: '(?i)^get /[a-z]+\\.json$'}\n    objective: 99%\n"
    )
    code, rules = generate(tmp_path, slos)
    assert code == 0 and "slo-gets" in rules
    assert promtool("check", "rules", str(tmp_path / "rules.yaml")).returncode == 0


@pytest.mark.parametrize("which", ["--prometheus", "--tests"])
def test_an_output_that_cannot_be_written_is_said_without_a_traceback(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], which: str
) -> None:
    (tmp_path / "s.slos.yaml").write_text(VARIANTS)
    outputs = {"--prometheus": str(tmp_path / "rules.yaml"), "--tests": str(tmp_path / "t.yaml")}
    outputs[which] = str(tmp_path / "missing-dir" / "out.yaml")
    args = ["slo", "generate", str(tmp_path / "s.slos.yaml"), *(a for kv in outputs.items() for a in kv)]
    assert main(args) == 1
    err = capsys.readouterr().err
    assert f"otelbundle slo generate: cannot write {outputs[which]}: No such file or directory" in err
    assert "Traceback" not in err
