"""What a user reads about a channel's settings: a key not written vs written empty, an address
that is not one, a timeout past its bound, a quoted boolean, and the `==` of a matcher."""

from __future__ import annotations

import pytest

from otelbundle.alerting.notify import build_notifiers
from otelbundle.config import YamlMap, load_text
from otelbundle.config.problems import ConfigProblem, in_file_order


def problems_of(notify: str, env: dict[str, str] | None = None) -> list[str]:
    """``notify:`` written at column 5 of ``c.yaml``: line 3 is the first line of ``notify``."""
    return [str(p) for p in _problems(notify, env)]


def _problems(notify: str, env: dict[str, str] | None = None) -> list[ConfigProblem]:
    text = "alerting:\n  notify:\n" + "".join(f"    {line}\n" for line in notify.splitlines())
    section = load_text(text, "c.yaml", env or {}).root["alerting"]["notify"]
    assert isinstance(section, YamlMap)
    notifiers, problems = build_notifiers(section, env=env or {})
    assert notifiers == []
    return problems


def test_a_key_not_written_is_missing_at_the_mapping() -> None:
    """It was `c.yaml:5:9: notify.webhook[0].url is empty (if it comes from ${env:...}, that
    variable is unset or empty)`: nothing was empty, the key was not there."""
    assert problems_of("webhook:\n  - {name: pager, match: ['severity=critical']}") == [
        "c.yaml:4:9: notify.webhook[0] has no 'url'; notify.webhook[0] is off"
    ]
    assert problems_of("slack: {}") == ["c.yaml:3:12: notify.slack has no 'webhook_url'; notify.slack is off"]
    assert problems_of("email:\n  smarthost: mail:25\n  to: [a@example.com]") == [
        "c.yaml:4:7: notify.email has no 'from'; notify.email is off"
    ]
    assert problems_of("email:\n  smarthost: mail:25\n  from: a@example.com") == [
        "c.yaml:4:7: notify.email has no 'to'; notify.email is off"
    ]


def test_a_key_written_empty_is_empty_at_its_value() -> None:
    assert problems_of('webhook:\n  - {name: a, url: ""}') == [
        "c.yaml:4:25: notify.webhook[0].url is empty; notify.webhook[0] is off"
    ]
    assert problems_of('slack: {webhook_url: "${env:SLACK_URL}"}', {"SLACK_URL": ""}) == [
        "c.yaml:3:27: notify.slack.webhook_url is empty (from ${env:...}: that variable is empty, or unset with an empty default); "
        "notify.slack is off"
    ]
    # Unset, the variable is named, and its own "is not set" is not said again at that place
    # (as printed: in_file_order leaves it out).
    assert [str(p) for p in in_file_order(_problems('slack: {webhook_url: "${env:SLACK_URL}"}', {}))] == [
        "c.yaml:3:27: notify.slack.webhook_url is empty: environment variable SLACK_URL is not set; "
        "notify.slack is off"
    ]


@pytest.mark.parametrize("sender", ["alerts", "alerts@", "@example.com", "a@b.com, c@d.com", "Alerts <>"])
def test_a_sender_that_is_not_one_address_is_refused(sender: str) -> None:
    """`from: "alerts"` passed; the server refused it when the first alert was mailed."""
    assert problems_of(f"email: {{smarthost: 'mail:25', from: {sender!r}, to: [a@example.com]}}") == [
        f"c.yaml:3:42: notify.email.from: {sender!r} is not an email address "
        '(write alerts@example.com or "Alerts <alerts@example.com>")'
    ]


@pytest.mark.parametrize("sender", ["alerts@example.com", "Alerts <alerts@example.com>", "a@localhost"])
def test_an_address_as_parseaddr_reads_it_is_taken(sender: str) -> None:
    section = load_text(
        f"email: {{smarthost: 'mail:25', from: {sender!r}, to: ['b@example.com', 'C <c@x.org>, d@x.org']}}",
        "c.yaml",
        {},
    ).root
    notifiers, problems = build_notifiers(section, env={})
    assert problems == []
    assert [n.name for n in notifiers] == ["email"]


def test_a_recipient_that_is_not_an_address_is_refused_at_its_item() -> None:
    assert problems_of(
        "email:\n  smarthost: mail:25\n  from: a@example.com\n  to: [b@example.com, oncall]"
    ) == [
        "c.yaml:6:27: notify.email.to: 'oncall' is not an email address "
        '(write alerts@example.com or "Alerts <alerts@example.com>")'
    ]


def test_an_address_from_a_variable_is_not_shown() -> None:
    assert problems_of(
        'email: {smarthost: "mail:25", from: "${env:FROM}", to: [a@example.com]}', {"FROM": "secret-name"}
    ) == [
        "c.yaml:3:42: notify.email.from: the value of its ${env:...} (not shown) is not an email address "
        '(write alerts@example.com or "Alerts <alerts@example.com>")'
    ]


def test_a_timeout_longer_than_five_minutes_is_refused() -> None:
    """`timeout: 1y` passed: a server that never answers held the channel's thread for a year."""
    assert problems_of("webhook: {url: 'http://hook', timeout: 1y}") == [
        "c.yaml:3:44: notify.webhook.timeout: '1y' is longer than 5m, the longest a channel waits for one "
        "request: the channel's other alerts wait behind it"
    ]
    section = load_text("webhook: {url: 'http://hook', timeout: 5m}", "c.yaml", {}).root
    notifiers, problems = build_notifiers(section, env={})
    assert problems == [] and len(notifiers) == 1


def test_a_quoted_boolean_says_why_it_is_not_one() -> None:
    assert problems_of("slack: {webhook_url: 'http://hook', send_resolved: 'false'}") == [
        "c.yaml:3:57: notify.slack.send_resolved must be true or false "
        "(in quotes it is text: write false without quotes to read a boolean)"
    ]


@pytest.mark.parametrize("matcher", ["severity == critical", "severity==critical", 'severity == "critical"'])
def test_double_equals_is_named_as_the_mistake(matcher: str) -> None:
    """It was `unexpected 'critical' after 'severity ==' (separate matchers with commas)`, and
    `severity==critical` was taken as severity="=critical", which no alert has."""
    problems = problems_of(f"webhook: {{url: 'http://hook', match: [{matcher!r}]}}")
    assert len(problems) == 1
    assert problems[0].startswith("c.yaml:3:")
    assert problems[0].endswith(
        f"notify.webhook.match: '==' is not a matcher operator: use =, !=, =~ or !~ in {matcher!r}"
    )
