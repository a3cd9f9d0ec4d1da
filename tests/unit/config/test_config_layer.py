"""One grammar, one env policy, one problem format for every section of otelbundle.yaml (#12, #17)."""

from __future__ import annotations

import math
import re
import textwrap
from pathlib import Path

import pytest

from otelbundle.alerting.notify import build_notifiers
from otelbundle.alerting.notify.webhook import WebhookNotifier
from otelbundle.alerting.section import load_alerting_config, read_alerting_config
from otelbundle.cli import main
from otelbundle.cli.checks import check_config
from otelbundle.config import (
    ConfigError,
    in_file_order,
    load_text,
    parse_duration,
    parse_number,
    parse_percent,
)
from otelbundle.health.section import read_health_config
from otelbundle.scrub.section import load_scrub_settings

DOCS = Path(__file__).resolve().parents[3] / "docs"


def write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(textwrap.dedent(text).lstrip("\n"))
    return path


def relative(problems: object, tmp_path: Path) -> list[str]:
    return [str(p).replace(f"{tmp_path}/", "") for p in problems]  # type: ignore[attr-defined]


# ---- one duration grammar ----


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("1m30s", 90.0),
        ("15s", 15.0),
        ("500ms", 0.5),
        (15, 15.0),
        ("15", 15.0),
        ("2.5", 2.5),
        ("1h1m", 3660.0),
    ],
)
def test_durations_read_the_same_in_alerting_and_health(tmp_path: Path, text: object, seconds: float) -> None:
    value = repr(text) if isinstance(text, str) else str(text)
    write(tmp_path, "r.yaml", f"groups:\n  - name: g\n    interval: {value}\n    rules: []\n")
    config = write(
        tmp_path,
        "c.yaml",
        f"""
        alerting: {{rule_files: [r.yaml], evaluation_interval: {value}}}
        health:
          interval: {value}
          timeout: 100ms
          checks: [{{name: up, kind: tcp, host: 127.0.0.1, port: 1}}]
        """,
    )
    alerting = load_alerting_config(str(config), {})
    health, problems = read_health_config(str(config))
    assert problems == [] and alerting is not None and health is not None
    assert (alerting.evaluation_interval, alerting.groups[0].interval, health.checks[0].spec.interval_s) == (
        seconds,
        seconds,
        seconds,
    )


@pytest.mark.parametrize("bad", ["soon", "1x", "-1s", ".nan", float("nan"), float("inf"), 10**400, True, [1]])
def test_bad_durations_are_refused_with_the_same_words(bad: object) -> None:
    with pytest.raises(ValueError, match=r"duration|greater than zero|too large|negative"):
        parse_duration(bad)


def test_zero_only_where_allowed_and_numbers_and_percentages() -> None:
    assert parse_duration(0, allow_zero=True) == 0.0
    with pytest.raises(ValueError, match="greater than zero"):
        parse_duration("0s")
    assert parse_number("5%") == 0.05 and parse_number("250ms") == 0.25 and parse_number(3) == 3.0
    assert parse_percent("80%") == 80.0 and parse_percent(80) == 80.0
    for bad in ("nan", "1e999", "120%"):
        with pytest.raises(ValueError):
            parse_number(bad) if bad != "120%" else parse_percent(bad)
    assert not math.isnan(parse_number("0.5"))


# ---- YAML: tags, anchors, hostile documents ----


def test_a_yaml_tag_is_a_located_problem_not_a_traceback(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    rules = write(tmp_path, "r.yaml", "groups:\n  - name: g\n    interval: !1s\n    rules: []\n")
    assert main(["rules", "check", str(rules)]) == 1
    err = capsys.readouterr().err
    assert f"{rules}:3:15: unsupported YAML tag '!1s'" in err, err
    assert "Traceback" not in err and "ConstructorError" not in err


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("a: &x [*x]\n", "f.yaml:1:4: recursive alias"),
        (
            "a: !!python/object:os.system x\n",
            "f.yaml:1:4: unsupported YAML tag 'tag:yaml.org,2002:python/object:os.system'",
        ),
        ("a: !!set {x: null}\n", "f.yaml:1:4: unsupported YAML tag 'tag:yaml.org,2002:set'"),
        ("a: !!int nope\n", "f.yaml:1:4: 'nope' is not a valid int"),
        ("a: [1, 2\n", "f.yaml:2:1: YAML syntax error"),
        ("[" * 5000, "f.yaml:1:1: YAML"),
    ],
)
def test_hostile_yaml_is_a_located_problem(text: str, expected: str) -> None:
    with pytest.raises(ConfigError) as caught:
        load_text(text, "f.yaml", env={})
    assert any(str(p).startswith(expected) for p in caught.value.problems), caught.value.problems


def test_an_alias_bomb_stops_at_the_value_limit() -> None:
    lines = ["a0: &a0 [x, x, x, x, x, x, x, x, x, x]"]
    lines += [f"a{i}: &a{i} [{', '.join([f'*a{i - 1}'] * 10)}]" for i in range(1, 9)]
    with pytest.raises(ConfigError, match="expands to more than 100000 values"):
        load_text("\n".join(lines) + "\n", "bomb.yaml", env={})


def test_anchors_and_merge_keys_work_and_keep_positions() -> None:
    root = load_text(
        "base: &b {timeout: 2s, url: 'http://a'}\nwebhook:\n  <<: *b\n  url: 'http://b'\n", "f.yaml", env={}
    ).root
    assert dict(root["webhook"]) == {"url": "http://b", "timeout": "2s"}
    assert str(root["webhook"].value_mark("timeout")) == "f.yaml:1:20"


# ---- one ${env:} policy ----


def test_unset_env_without_default_is_a_problem_in_every_section(tmp_path: Path) -> None:
    write(
        tmp_path,
        "r.yaml",
        "groups:\n  - name: g\n    rules: [{alert: A, expr: count > 1, labels: {team: '${env:NO_TEAM}'}}]\n",
    )
    config = write(
        tmp_path,
        "c.yaml",
        """
        alerting:
          rule_files: [r.yaml]
          external_labels: {env: "${env:NO_ENV_NAME}", region: "${env:NO_REGION:-eu}"}
        health:
          checks: [{name: db, kind: sql, driver: sqlite3, dsn: "${env:NO_DSN}"}]
        scrub:
          allowed_keys: ["${env:NO_KEY}"]
        """,
    )
    report = check_config(str(config), {})
    lines = relative(report.problems, tmp_path)
    for expected in (
        "c.yaml:3:27: environment variable NO_ENV_NAME is not set",
        "r.yaml:3:57: environment variable NO_TEAM is not set",
        "c.yaml:5:57: environment variable NO_DSN is not set",
        "c.yaml:7:19: environment variable NO_KEY is not set",
    ):
        assert expected in lines, lines
    assert not any("NO_REGION" in line for line in lines)


def test_unset_env_in_a_webhook_header_is_reported_and_switches_the_channel_off(tmp_path: Path) -> None:
    text = (
        "alerting:\n  notify:\n    webhook:\n      url: https://hooks.example.com/x\n"
        "      headers: {Authorization: 'Bearer ${env:ALERT_WEBHOOK_TOKEN}'}\n"
    )
    section = load_text(text, "o.yaml", env={}).root["alerting"]["notify"]
    notifiers, problems = build_notifiers(section, env={})
    assert notifiers == []
    assert [str(p) for p in in_file_order(problems)] == [  # as printed: with the header, and the consequence
        "o.yaml:5:33: notify.webhook.headers.Authorization: environment variable ALERT_WEBHOOK_TOKEN is not set; "
        "notify.webhook is off"
    ]
    env = {"ALERT_WEBHOOK_TOKEN": "t0k"}
    section = load_text(text, "o.yaml", env=env).root["alerting"]["notify"]
    notifiers, problems = build_notifiers(section, env=env)
    assert problems == [] and isinstance(notifiers[0], WebhookNotifier)
    assert notifiers[0].headers["Authorization"] == "Bearer t0k"


def test_a_literal_smtp_password_is_refused(tmp_path: Path) -> None:
    text = "alerting:\n  notify:\n    email: {smarthost: 'mail:25', from: a@x, to: b@x, username: u, password: hunter2}\n"
    notifiers, problems = build_notifiers(
        load_text(text, "o.yaml", env={}).root["alerting"]["notify"], env={}
    )
    assert notifiers == []
    assert [str(p) for p in problems] == [
        'o.yaml:3:78: notify.email.password must come from the environment, e.g. "${env:SMTP_PASSWORD}", '
        "not be written in the file"
    ]


# ---- #17: the notifiers.md example ----


def _doc_example(name: str, first_line: str) -> str:
    text = (DOCS / name).read_text()
    blocks = re.findall(r"```yaml\n(.*?)```", text, flags=re.S)
    return next(block for block in blocks if block.startswith(first_line))


def test_the_notifiers_doc_example_loads_without_rule_files_and_builds_every_channel(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    config = write(tmp_path, "otelbundle.yaml", _doc_example("notifiers.md", "alerting:\n  notify:"))
    env = {
        "ALERT_WEBHOOK_TOKEN": "t",
        "SLACK_WEBHOOK_URL": "https://hooks.slack.com/x",
        "PAGERDUTY_ROUTING_KEY": "k",
        "SMTP_PASSWORD": "p",
    }
    alerting, problems = read_alerting_config(str(config), env)
    assert problems == [] and alerting is not None and alerting.rules == []
    notifiers, problems = build_notifiers(alerting.notify, env=env)
    assert problems == [] and sorted(n.name for n in notifiers) == [
        "alertmanager",
        "email",
        "pagerduty",
        "slack",
        "webhook",
    ]
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    assert main(["rules", "check", str(config)]) == 0
    assert main(["config", "check", str(config)]) == 0
    assert f"{config}: SUCCESS: 0 alert rules in 0 rule files, 5 notifiers" in capsys.readouterr().out


def test_rules_check_and_config_check_report_notify_problems(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("SLACK_WEBHOOK_URL", raising=False)
    config = write(
        tmp_path,
        "otelbundle.yaml",
        """
        alerting:
          notify:
            slack: {webhook_url: "${env:SLACK_WEBHOOK_URL}"}
            webhook: {url: "mailto:x", timout: 1s}
        """,
    )
    for command in (["rules", "check"], ["config", "check"]):
        assert main([*command, str(config)]) == 1, command
        err = capsys.readouterr().err
        # One cause, one line: the variable's problem and the empty URL it leaves are said together.
        assert (
            f"{config}:3:27: notify.slack.webhook_url is empty: environment variable SLACK_WEBHOOK_URL "
            "is not set; notify.slack is off\n"
        ) in err, err
        assert err.count("SLACK_WEBHOOK_URL") == 1, err
        assert f"{config}:4:32: unknown key 'timout' in notify.webhook (did you mean 'timeout'?)" in err, err
        assert "notify.webhook.url: 'mailto:x' is not an http(s) URL" in err, err


# ---- otelbundle config check ----


def test_config_check_reports_every_section_and_named_file_in_one_run(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    write(tmp_path, "r.yaml", "groups:\n  - name: g\n    rules: [{alert: A, expr: p95 > fast}]\n")
    config = write(
        tmp_path,
        "otelbundle.yaml",
        """
        alerting: {rule_files: [r.yaml], evaluation_intervl: 1s}
        helth: {}
        health:
          checks: [{name: a, kind: python, function: "no_such_module_here:check"}]
        scrub: {extra_patterns: ["("]}
        """,
    )
    assert main(["config", "check", str(config)]) == 1
    captured = capsys.readouterr()
    lines = [line.replace(f"{tmp_path}/", "") for line in captured.err.splitlines()]
    assert lines[-1] == "otelbundle.yaml: FAILED: 5 problem(s)", lines
    assert "otelbundle.yaml:2:1: unknown key 'helth' in otelbundle.yaml (did you mean 'health'?)" in lines
    assert (
        "otelbundle.yaml:1:34: unknown key 'evaluation_intervl' in alerting (did you mean 'evaluation_interval'?)"
        in lines
    )
    assert any(line.startswith("r.yaml:3:30: expr: bad threshold 'fast'") for line in lines), lines
    assert any(
        line.startswith("otelbundle.yaml:4:47: cannot find module 'no_such_module_here'") for line in lines
    )
    assert any(
        line.startswith("otelbundle.yaml:5:27: scrub.extra_patterns[0]: not a regular expression")
        for line in lines
    )
    assert captured.out == ""


def test_config_check_defaults_to_the_file_the_app_loads(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("OTELBUNDLE_CONFIG", raising=False)
    monkeypatch.chdir(tmp_path)
    assert main(["config", "check"]) == 1
    assert (
        "no file given, OTELBUNDLE_CONFIG is not set and there is no ./otelbundle.yaml"
        in capsys.readouterr().err
    )
    write(tmp_path, "otelbundle.yaml", "scrub: {enabled: true}\n")
    assert main(["config", "check"]) == 0
    assert capsys.readouterr().out == f"{tmp_path}/otelbundle.yaml: SUCCESS: scrubbing on\n"
    other = write(tmp_path, "other.yaml", "alerting: {resend_delay: 15}\n")
    monkeypatch.setenv("OTELBUNDLE_CONFIG", str(other))
    assert main(["config", "check"]) == 0
    assert capsys.readouterr().out.startswith(f"{other}: SUCCESS: 0 alert rules")


def test_health_check_finds_a_python_check_in_the_project_folder_like_the_app(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    package = tmp_path / "shopcfgtest"
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / "checks.py").write_text("def queue():\n    return 'ok'\n")
    write(
        tmp_path,
        "otelbundle.yaml",
        "health:\n  checks: [{name: q, kind: python, function: 'shopcfgtest.checks:queue'}]\n",
    )
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr("sys.path", [p for p in __import__("sys").path if p not in ("", str(tmp_path))])
    assert main(["health", "check", "otelbundle.yaml"]) == 0, capsys.readouterr().err
    assert "otelbundle.yaml: SUCCESS: 1 health checks" in capsys.readouterr().out


def test_scrub_section_reads_through_the_same_layer(tmp_path: Path) -> None:
    config = write(tmp_path, "c.yaml", "scrub: {enabled: !!bool yes, allowed_keys: [a, 3]}\n")
    settings, problems = load_scrub_settings(str(config), {})
    assert settings.allowed_keys == ["a"]
    assert relative(problems, tmp_path) == ["c.yaml:1:48: scrub.allowed_keys[1] must be a non-empty string"]


def test_a_malformed_rule_test_file_is_reported_with_positions_before_running(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    write(tmp_path, "r.yaml", "groups:\n  - name: g\n    rules: [{alert: A, expr: count > 1}]\n")
    test_file = write(
        tmp_path,
        "t.yaml",
        """
        rule_files: [r.yaml]
        evaluation_interval: !1s
        tests:
          - interval: soon
            input_spans:
              - {spans: {service: shop, kind: sideways}, values: "ok 1s x99999999999"}
              - 3
            alert_rule_test: [{alertname: A}]
        """,
    )
    assert main(["rules", "test", str(test_file)]) == 1
    err = capsys.readouterr().err.replace(f"{tmp_path}/", "")
    for expected in ("t.yaml:2:22: unsupported YAML tag '!1s'",):
        assert expected in err, err
    test_file.write_text(test_file.read_text().replace("!1s", "1s"))
    assert main(["rules", "test", str(test_file)]) == 1
    err = capsys.readouterr().err.replace(f"{tmp_path}/", "")
    for expected in (
        "t.yaml:4:15: interval: 'soon' is not a duration",
        "t.yaml:6:39: kind must be one of",
        "t.yaml:6:59: values: more than 1000000 spans in one series",
        "t.yaml:7:9: each item of input_spans must be a mapping",
        "t.yaml:8:23: missing required key 'eval_time'",
    ):
        assert expected in err, err
    assert "Traceback" not in err


@pytest.mark.parametrize("kind", ["[]", "{a: 1}", "7"])
def test_a_span_kind_of_the_wrong_type_in_a_rule_test_is_a_located_problem(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], kind: str
) -> None:
    """Found by the property test: `kind: []` was a TypeError (a list is not hashable)."""
    write(tmp_path, "r.yaml", "groups:\n  - name: g\n    rules: [{alert: A, expr: count > 1}]\n")
    test_file = write(
        tmp_path,
        "t.yaml",
        f"""
        rule_files: [r.yaml]
        tests:
          - input_spans: [{{spans: {{service: shop, kind: {kind}}}, values: "ok 1s x2"}}]
            alert_rule_test: [{{eval_time: 1s, alertname: A}}]
        """,
    )
    assert main(["rules", "test", str(test_file)]) == 1
    err = capsys.readouterr().err.replace(f"{tmp_path}/", "")
    assert "t.yaml:3:49: kind must be one of" in err, err
    assert "Traceback" not in err


# ---- at application start: one logger, one line per problem, the app keeps what works ----


def test_at_start_a_tagged_rule_file_is_one_located_line_and_rules_are_off(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from otelbundle.alerting.manager import build_alerting

    write(tmp_path, "r.yaml", "groups:\n  - name: g\n    interval: !1s\n    rules: []\n")
    config = write(tmp_path, "otelbundle.yaml", "alerting: {rule_files: [r.yaml]}\nhelth: {}\n")
    setup = build_alerting(str(config), {})
    # No rules run, but the files are watched (fixing them starts the rules) and SIGHUP reloads.
    assert setup is not None and setup.engine.config.rules == []
    setup.shutdown()
    lines = capsys.readouterr().err.replace(f"{tmp_path}/", "").splitlines()
    assert lines == [
        "ERROR otelbundle.yaml:2:1: unknown key 'helth' in otelbundle.yaml (did you mean 'health'?)",
        "ERROR otelbundle: unknown sections of the config file are ignored; the application continues.",
        "ERROR r.yaml:3:15: unsupported YAML tag '!1s'; write the value without a tag",
        "ERROR otelbundle: alert rules are off because of 1 problem(s) in the configuration; "
        "fixing the files starts them (no restart needed); the application continues.",
    ], lines


def test_at_start_notifiers_without_rule_files_run_and_a_bad_channel_is_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from otelbundle.alerting.manager import build_alerting

    config = write(
        tmp_path,
        "otelbundle.yaml",
        """
        alerting:
          notify:
            alertmanager: {url: "http://127.0.0.1:9"}
            webhook: {url: "http://127.0.0.1:9/x", headers: {Authorization: "Bearer ${env:NO_TOKEN_HERE}"}}
        """,
    )
    setup = build_alerting(str(config), {})
    assert setup is not None
    try:
        assert list(setup.dispatcher.stats()) == ["alertmanager"]
    finally:
        setup.shutdown()
    lines = capsys.readouterr().err.replace(f"{tmp_path}/", "").splitlines()
    assert lines == [
        "ERROR otelbundle.yaml:4:70: notify.webhook.headers.Authorization: environment variable NO_TOKEN_HERE "
        "is not set; notify.webhook is off",
        "ERROR otelbundle: 1 problem(s) in alerting.notify: the channels they are in are off; "
        "the application continues.",
    ], lines


def test_every_section_reads_env_from_the_same_mapping(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("ONLY_GIVEN_DSN", raising=False)
    config = write(
        tmp_path,
        "c.yaml",
        'health:\n  checks: [{name: db, kind: sql, driver: sqlite3, dsn: "${env:ONLY_GIVEN_DSN}"}]\n',
    )
    assert check_config(str(config), {"ONLY_GIVEN_DSN": "/tmp/x.db"}).problems == []
    assert relative(check_config(str(config), {}).problems, tmp_path)[0] == (
        "c.yaml:2:57: environment variable ONLY_GIVEN_DSN is not set"
    )


def test_a_number_refused_for_being_quoted_says_so_through_config_check(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``port: "5432"`` and ``port: "${env:DB_PORT}"`` are text (quotes make a string, as in the
    collector); the refusal ``expected a port number 1..65535, got '5432'`` did not say why, and
    from a variable it could not show the value that looked right. A value refused when typed
    too (``"70000"``) gets no hint; the variable's value is still not shown."""
    monkeypatch.setenv("LAYER_DB_PORT", "5432")
    path = tmp_path / "otelbundle.yaml"
    path.write_text(
        "health:\n  checks:\n"
        '    - {name: a, kind: tcp, host: h, port: "5432", readiness: "false"}\n'
        '    - {name: b, kind: tcp, host: h, port: "${env:LAYER_DB_PORT}"}\n'
        '    - {name: c, kind: tcp, host: h, port: "70000"}\n'
    )
    said = [str(p).replace(str(path), "F") for p in check_config(str(path)).problems]
    assert said == [
        "F:3:63: readiness: expected true or false, got 'false' "
        "(in quotes it is text: write false without quotes to read a boolean)",
        "F:3:44: port: expected a port number 1..65535, got '5432' "
        "(in quotes it is text: write 5432 without quotes to read a number)",
        "F:4:44: port: expected a port number 1..65535, got the value of its ${env:...} (not shown) "
        '(a quoted "${env:...}" is text: write the reference unquoted, alone, to read a number)',
        "F:5:44: port: expected a port number 1..65535, got '70000'",
    ]
