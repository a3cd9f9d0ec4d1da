"""What the channels refuse and how they say it: a header HTTP cannot carry and an unset header
variable at their place, a password written in the file as a default, a matcher regex error in
the user's own terms, and a Slack link that a `|` in its URL cannot forge."""

from __future__ import annotations

from datetime import datetime, timezone
from pathlib import Path

import pytest

from otelbundle.alerting.alert import Alert, Evidence
from otelbundle.alerting.notify import PermanentError, build_notifiers
from otelbundle.alerting.notify.base import post_json
from otelbundle.alerting.notify.matchers import MatcherError, parse_matchers
from otelbundle.alerting.notify.slack import slack_payload
from otelbundle.config import YamlMap, load_file, load_text
from otelbundle.config.problems import in_file_order

T = datetime(2026, 1, 1, tzinfo=timezone.utc)


def shown(notify: str, env: dict[str, str], path: Path | None = None) -> list[str]:
    """The problems of ``notify:`` (at column 5, line 3 onwards) as config check prints them."""
    text = "alerting:\n  notify:\n" + "".join(f"    {line}\n" for line in notify.splitlines())
    if path is None:
        root = load_text(text, "c.yaml", env).root
    else:
        path.write_text(text, encoding="utf-8")
        root = load_file(str(path), env).root
    section = root["alerting"]["notify"]
    assert isinstance(section, YamlMap)
    notifiers, problems = build_notifiers(section, env=env)
    assert notifiers == []
    return [str(p) for p in in_file_order(problems)]


def test_a_header_value_outside_latin_1_is_refused_at_its_place() -> None:
    """Before: config check passed, then every notification failed, blamed on a line break."""
    assert shown('webhook: {url: "http://h/x", headers: {X-Team: "Café ☃ team"}}', {}) == [
        "c.yaml:3:53: notify.webhook.headers.X-Team holds a character outside Latin-1 (such as ☃ or €), "
        "which an HTTP header cannot carry: write it in ASCII, or percent-encode it if the receiver "
        "decodes that; notify.webhook is off"
    ]
    env = {"TEAM": "S3KR1T ☃"}
    [line] = shown('webhook: {url: "http://h/x", headers: {X-Team: "${env:TEAM}"}}', env)
    assert "S3KR1T" not in line and "outside Latin-1" in line and "(from ${env:...}" in line


def test_latin_1_header_values_still_go() -> None:
    section = load_text(
        'alerting:\n  notify:\n    webhook: {url: "http://h/x", headers: {X-Team: "Café"}}\n', "c.yaml", {}
    )
    notifiers, problems = build_notifiers(section.root["alerting"]["notify"], env={})
    assert problems == [] and notifiers[0].headers == {"X-Team": "Café"}  # type: ignore[attr-defined]


def test_a_header_from_code_outside_latin_1_is_not_blamed_on_a_line_break() -> None:
    with pytest.raises(PermanentError) as raised:
        post_json("http://127.0.0.1:9/hook", {}, headers={"X-Team": "S3KR1T ☃"}, timeout=1)
    assert "outside Latin-1" in str(raised.value) and "line break" not in str(raised.value)
    assert "S3KR1T" not in str(raised.value)


def test_a_url_outside_ascii_is_not_blamed_on_a_header() -> None:
    with pytest.raises(PermanentError) as raised:
        post_json("http://127.0.0.1:9/café?token=S3KR1T", {}, timeout=1)
    assert "URL" in str(raised.value) and "header" not in str(raised.value)
    assert "S3KR1T" not in str(raised.value)


def test_an_unset_header_variable_names_the_header_and_the_channel_off() -> None:
    """Before: `environment variable NOPE_TOKEN is not set`, alone."""
    assert shown(
        'webhook: {url: "http://h/x", headers: {Authorization: "Bearer ${env:NOPE_TOKEN}"}}', {}
    ) == [
        "c.yaml:3:60: notify.webhook.headers.Authorization: environment variable NOPE_TOKEN is not set; "
        "notify.webhook is off"
    ]


EMAIL = 'email: {smarthost: "mail:25", from: a@example.com, to: b@example.com, username: u, password: "%s"}'


def test_an_unset_password_variable_is_one_line_with_its_field_and_consequence() -> None:
    """Before: the bare `environment variable NOPE_SMTP is not set` (the field's own line, which
    said neither the variable nor that the channel is off, was left out as a repetition)."""
    assert shown(EMAIL % "${env:NOPE_SMTP}", {}) == [
        "c.yaml:3:99: notify.email.password is empty: environment variable NOPE_SMTP is not set; notify.email is off"
    ]


@pytest.mark.parametrize("written", ["${env:SMTP_PASSWORD:-hunter2}", "hunter2${env:SMTP_PASSWORD}"])
@pytest.mark.parametrize("env", [{}, {"SMTP_PASSWORD": "from-env"}])
@pytest.mark.parametrize("from_file", [True, False])
def test_a_password_written_as_a_default_or_around_the_variable_is_refused(
    tmp_path: Path, written: str, env: dict[str, str], from_file: bool
) -> None:
    """The loader keeps the text as written, so a config given as text in code is checked too."""
    path = tmp_path / "otelbundle.yaml"
    [line] = shown(EMAIL % written, env, path if from_file else None)
    where = str(path) if from_file else "c.yaml"
    assert line.startswith(f"{where}:3:99: notify.email.password must be only ")
    assert line.endswith("notify.email is off") and "hunter2" not in line


def test_a_password_only_from_the_environment_is_taken(tmp_path: Path) -> None:
    path = tmp_path / "otelbundle.yaml"
    for written in ("${env:SMTP_PASSWORD}", "${env:SMTP_PASSWORD:-}"):
        path.write_text("alerting:\n  notify:\n    " + EMAIL % written + "\n", encoding="utf-8")
        env = {"SMTP_PASSWORD": "pw"}
        notifiers, problems = build_notifiers(load_file(str(path), env).root["alerting"]["notify"], env=env)
        assert problems == [] and notifiers[0].password == "pw"  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('x=~"[a-"', "bad regex '[a-': unterminated character set at position 0"),
        ('x=~"(?i)[z-a]"', "bad regex '(?i)[z-a]': bad character range z-a at position 5"),
        ('x=~"ab)"', "bad regex 'ab)': unbalanced parenthesis at position 2"),
    ],
)
def test_a_regex_error_is_said_of_the_pattern_as_written(text: str, message: str) -> None:
    """Before: `bad character range a-) at position 4`: the `(?:...)` around it, not the user's."""
    with pytest.raises(MatcherError) as raised:
        parse_matchers(text)
    assert str(raised.value) == message


def _link_texts(alert: Alert) -> list[str]:
    texts = []
    for block in slack_payload([alert])["blocks"]:
        for part in [block.get("text"), *block.get("elements", [])]:
            if part and part.get("type") == "mrkdwn":
                texts.append(part["text"])
    return texts


def test_a_pipe_in_a_link_url_cannot_set_the_link_text() -> None:
    """Before: `<http://g/x?q=a|Click me: reset password>` showed the URL's own words as the link."""
    alert = Alert(
        {"alertname": "A"},
        {},
        "firing",
        T,
        T,
        generator_url="http://g/x?q=a|Click me: reset password",
        evidence=(Evidence("0123456789abcdef", trace_url="http://j/t/1|Open the fix\nnow"),),
    )
    text = "\n".join(_link_texts(alert))
    assert "<http://g/x?q=a%7CClick%20me:%20reset%20password|source>" in text
    assert "<http://j/t/1%7COpen%20the%20fix%0Anow|trace 01234567>" in text


def test_an_unset_variable_beside_an_unread_reference_is_still_said() -> None:
    """A header with an unset `${env:...}` and a `${SHELL_FORM}` reference: both causes are said
    (the unset one with its header's name); de-duplicating once lost the unset variable."""
    lines = shown(
        'webhook: {url: "http://h/x", headers: {Authorization: "${AUTH_SCHEME} ${env:NOPE_TOKEN}"}}', {}
    )
    assert any("environment variable NOPE_TOKEN is not set" in line for line in lines), lines
    assert any("'${AUTH_SCHEME}' is not read as a variable" in line for line in lines), lines


def test_a_channel_url_with_a_space_is_refused_at_its_place_without_the_url() -> None:
    """It passed config check, then every send was retried with http.client's InvalidURL,
    whose message quoted the path: Slack's webhook secret, in the log."""
    env = {"SLACK_URL": "https://hooks.slack.com/services/T000/B000/s3cr3tT0ken x"}
    [line] = shown('slack: {webhook_url: "${env:SLACK_URL}"}', env)
    assert line.startswith("c.yaml:3:27: notify.slack.webhook_url holds a space or control character")
    assert "s3cr3t" not in line


def test_a_url_with_a_space_from_code_is_given_up_without_quoting_it() -> None:
    with pytest.raises(PermanentError) as raised:
        post_json("http://127.0.0.1:9/services/T000/B000/s3cr3t x", {}, timeout=1)
    assert "space or control character" in str(raised.value) and "s3cr3t" not in str(raised.value)
