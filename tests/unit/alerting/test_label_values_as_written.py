"""Label and annotation values written as YAML numbers or booleans keep the text they are written
as, as Prometheus (Go yaml into a string) keeps it; expected values are promtool 2.42's."""

from __future__ import annotations

from pathlib import Path

from otelbundle.alerting.section import load_alerting_config
from otelbundle.alerting.templates import Context

# Each is a YAML number or boolean to PyYAML; Prometheus (Go yaml into a string) keeps the text.
LABELS = (
    "{a: 1.0, b: 0x10, c: 010, d: 1_000, e: .5, f: 1e3, g: yes, h: ~, i: 2024-01-02, j: +5, "
    "k: '0x10', m: True, n: -.inf, o: 0o17, p: 12:30, q: 1.10}"
)
AS_PROMETHEUS = {
    "a": "1.0",
    "b": "0x10",
    "c": "010",
    "d": "1_000",
    "e": ".5",
    "f": "1e3",
    "g": "yes",
    "h": "",
    "i": "2024-01-02",
    "j": "+5",
    "k": "0x10",
    "m": "True",
    "n": "-.inf",
    "o": "0o17",
    "p": "12:30",
    "q": "1.10",
}


def rule_file(labels: str, annotations: str, expr: str) -> str:
    return (
        "groups:\n  - name: g\n    rules:\n      - alert: A\n"
        f"        expr: {expr}\n        labels: {labels}\n        annotations: {annotations}\n"
    )


def test_label_and_annotation_values_keep_the_text_they_are_written_as(tmp_path: Path) -> None:
    """``code: 010`` was the label "8" and ``b: 0x10`` "16": an Alertmanager matcher
    ``code="010"`` written for the same rule under Prometheus stopped matching."""
    (tmp_path / "r.yaml").write_text(rule_file(LABELS, "{f: 010, t: yes}", "error_count > 0"))
    (tmp_path / "c.yaml").write_text(
        "alerting:\n  rule_files: [r.yaml]\n  external_labels: {code: 010, canary: yes, ok: true}\n"
    )
    config = load_alerting_config(str(tmp_path / "c.yaml"), {})
    assert config is not None
    assert config.external_labels == {"code": "010", "canary": "yes", "ok": "true"}
    [rule] = config.rules
    assert rule.labels == AS_PROMETHEUS
    rendered = {key: template.render(Context({}, 3.0, {}, "")) for key, template in rule.annotations.items()}
    assert rendered == {"f": "010", "t": "yes"}
