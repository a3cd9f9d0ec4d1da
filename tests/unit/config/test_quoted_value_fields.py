"""configuration.md promises, for every field that needs a number or a boolean, the hint
`in quotes it is text: write 8080 without quotes`. It was missing on the whole-number fields
(`max_group_keys: "1000"` said only `must be a positive integer`) and on `send_resolved`."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from otelbundle.cli.checks import check_config

# (the file, the quoted text): each file has one quoted value a field needs unquoted.
RULES = 'groups:\n  - name: g\n    rules:\n      - {alert: A, expr: count > 1, min_spans: "20"}\n'
CASES = {
    "max_group_keys": ('alerting:\n  max_group_keys: "1000"\n', "1000"),
    "notification_queue_size": ('alerting:\n  notification_queue_size: "10"\n', "10"),
    "span_queue_size": ('alerting:\n  span_queue_size: "8192"\n', "8192"),
    "see_unsampled_spans": ('alerting:\n  see_unsampled_spans: "false"\n', "false"),
    "evaluate_on_spans": ('alerting:\n  evaluate_on_spans: "true"\n', "true"),
    "min_spans": ('alerting:\n  rule_files: ["rules.yaml"]\n', "20"),
    "slack.send_resolved": (
        'alerting:\n  notify:\n    slack: {webhook_url: "http://x", send_resolved: "true"}\n',
        "true",
    ),
    "pagerduty.send_resolved": (
        'alerting:\n  notify:\n    pagerduty: {routing_key: k, send_resolved: "false"}\n',
        "false",
    ),
    "email.send_resolved": (
        'alerting:\n  notify:\n    email: {smarthost: "m:25", from: a@b.c, to: [c@d.e], send_resolved: "true"}\n',
        "true",
    ),
    "health.check.readiness": (
        'health:\n  checks:\n    - {name: t, kind: tcp, host: localhost, port: 5432, readiness: "false"}\n',
        "false",
    ),
    "health.check.port": (
        'health:\n  checks:\n    - {name: t, kind: tcp, host: localhost, port: "5432"}\n',
        "5432",
    ),
    "health.http.port": (
        'health:\n  http: {port: "8081"}\n  checks:\n    - {name: t, kind: tcp, host: localhost, port: 1}\n',
        "8081",
    ),
}


@pytest.mark.parametrize("field", sorted(CASES))
def test_a_quoted_number_or_boolean_says_to_write_it_without_quotes(tmp_path: Path, field: str) -> None:
    config, quoted = CASES[field]
    (tmp_path / "rules.yaml").write_text(RULES)
    path = tmp_path / "otelbundle.yaml"
    path.write_text(textwrap.dedent(config))
    problems = [str(p) for p in check_config(str(path), {}).problems]
    assert len(problems) == 1, problems
    what = "a boolean" if quoted in ("true", "false") else "a number"
    assert problems[0].endswith(f"(in quotes it is text: write {quoted} without quotes to read {what})")


def test_a_quoted_reference_says_to_write_it_unquoted(tmp_path: Path) -> None:
    path = tmp_path / "otelbundle.yaml"
    path.write_text('alerting:\n  max_group_keys: "${env:KEYS}"\n')
    assert [str(p) for p in check_config(str(path), {"KEYS": "500"}).problems] == [
        f"{path}:2:20: max_group_keys must be a positive integer "
        '(a quoted "${env:...}" is text: write the reference unquoted, alone, to read a number)'
    ]
