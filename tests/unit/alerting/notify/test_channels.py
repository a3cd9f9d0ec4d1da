"""Payload builders and config parsing of the Slack, PagerDuty and email notifiers."""

from __future__ import annotations

import json
from datetime import datetime, timezone

import pytest

from otelbundle.alerting.alert import Alert
from otelbundle.alerting.notify import RetryableError, build_notifiers
from otelbundle.alerting.notify.email import EmailNotifier, email_message
from otelbundle.alerting.notify.pagerduty import PagerDutyNotifier, pagerduty_event
from otelbundle.alerting.notify.slack import SlackNotifier, slack_escape, slack_payload
from otelbundle.config import YamlMap, load_text

T0 = datetime(2026, 11, 22, 23, 0, 0, tzinfo=timezone.utc)
T1 = datetime(2026, 11, 22, 23, 5, 0, tzinfo=timezone.utc)


def alert(status: str = "firing", **labels: str) -> Alert:
    return Alert(
        labels={"alertname": "HighErrorRate", "severity": "critical", **labels},
        annotations={"summary": "5% of checkout fail"},
        status=status,  # type: ignore[arg-type]
        starts_at=T0,
        ends_at=T1,
        generator_url="http://app:8080/rules#HighErrorRate",
        trace_ids=("4bf92f3577b34da6a3ce929d0e0e4736",),
    )


def test_slack_payload_exact() -> None:
    assert slack_payload([alert(route="/pay")]) == {
        "text": "[FIRING] HighErrorRate: 5% of checkout fail",
        "blocks": [
            {"type": "header", "text": {"type": "plain_text", "text": "[FIRING] HighErrorRate"}},
            {"type": "section", "text": {"type": "mrkdwn", "text": ":red_circle: 5% of checkout fail"}},
            {
                "type": "section",
                "fields": [
                    {"type": "mrkdwn", "text": "*route*: /pay"},
                    {"type": "mrkdwn", "text": "*severity*: critical"},
                ],
            },
            {
                "type": "context",
                "elements": [
                    {
                        "type": "mrkdwn",
                        "text": "<http://app:8080/rules#HighErrorRate|source> | "
                        "traces: 4bf92f3577b34da6a3ce929d0e0e4736",
                    }
                ],
            },
        ],
    }


def test_slack_escapes_injection_everywhere() -> None:
    evil = Alert(
        labels={"alertname": "<!channel>", "route": "<http://evil|click> & <@U123>"},
        annotations={"summary": "<!here> pay at <http://evil.example|bank>"},
        status="firing",
        starts_at=T0,
        ends_at=T1,
        generator_url="http://x/?a=1&b=<2>",
    )
    payload = slack_payload([evil])
    # plain_text (the header) is never parsed for mentions or links by Slack; everything mrkdwn must be escaped
    assert payload["blocks"][0] == {
        "type": "header",
        "text": {"type": "plain_text", "text": "[FIRING] <!channel>"},
    }
    text = json.dumps([payload["text"], payload["blocks"][1:]])
    for forbidden in ("<!channel>", "<!here>", "<http://evil", "<@U123>", "b=<2>"):
        assert forbidden not in text
    assert "&lt;!channel&gt;" in text and "&amp;" in text
    assert slack_escape("a&b<c>d") == "a&amp;b&lt;c&gt;d"
    assert slack_escape("&lt;") == "&amp;lt;"


def test_slack_skips_resolved_when_configured() -> None:
    # Port 1 on loopback is closed: a request would raise RetryableError, so returning proves none was made.
    SlackNotifier("http://127.0.0.1:1/", send_resolved=False).send([alert("resolved")])
    with pytest.raises(RetryableError):
        SlackNotifier("http://127.0.0.1:1/", send_resolved=True).send([alert("resolved")])


def test_pagerduty_trigger_and_resolve_exact() -> None:
    firing = alert()
    assert pagerduty_event(firing, "rk") == {
        "routing_key": "rk",
        "event_action": "trigger",
        "dedup_key": firing.fingerprint,
        "payload": {
            "summary": "5% of checkout fail",
            "source": "otelbundle",
            "severity": "critical",
            "timestamp": "2026-11-22T23:00:00.000Z",
            "custom_details": {
                "labels": {"alertname": "HighErrorRate", "severity": "critical"},
                "annotations": {"summary": "5% of checkout fail"},
                "value": 0.0,
                "trace_ids": ["4bf92f3577b34da6a3ce929d0e0e4736"],
            },
        },
        "links": [{"href": "http://app:8080/rules#HighErrorRate", "text": "source"}],
    }
    assert pagerduty_event(alert("resolved"), "rk") == {
        "routing_key": "rk",
        "event_action": "resolve",
        "dedup_key": firing.fingerprint,
    }


def test_pagerduty_dedup_key_stable_and_distinct() -> None:
    a = Alert({"b": "2", "alertname": "X", "a": "1"}, {"summary": "one"}, "firing", T0, T1)
    b = Alert({"a": "1", "alertname": "X", "b": "2"}, {"summary": "two"}, "resolved", T1, T1)
    assert pagerduty_event(a, "k")["dedup_key"] == pagerduty_event(b, "k")["dedup_key"]
    c = Alert({"a": "1", "alertname": "X", "b": "3"}, {}, "firing", T0, T1)
    assert pagerduty_event(c, "k")["dedup_key"] != pagerduty_event(a, "k")["dedup_key"]


def test_pagerduty_severity_and_summary_limits() -> None:
    long = Alert({"alertname": "X", "severity": "sev2"}, {"summary": "s" * 5000}, "firing", T0, T1)
    payload = pagerduty_event(long, "k")["payload"]
    assert payload["severity"] == "error"  # a value PagerDuty does not know
    assert len(payload["summary"]) == 1024
    for severity in ("critical", "error", "warning", "info"):
        a = Alert({"alertname": "X", "severity": severity.upper()}, {}, "firing", T0, T1)
        assert pagerduty_event(a, "k")["payload"]["severity"] == severity
    unlabelled = Alert({"alertname": "X"}, {}, "firing", T0, T1)
    assert pagerduty_event(unlabelled, "k")["payload"]["severity"] == "error"


@pytest.mark.parametrize(
    ("severity", "expected"), [("page", "critical"), ("ticket", "warning"), ("Page", "critical")]
)
def test_pagerduty_severity_of_slo_alerts(severity: str, expected: str) -> None:
    """The SLO generator's tiers: a page is PagerDuty's most urgent level, a ticket a warning."""
    a = Alert({"alertname": "SLOBurn", "severity": severity}, {}, "firing", T0, T1)
    assert pagerduty_event(a, "k")["payload"]["severity"] == expected


def test_pagerduty_severity_of_generated_slo_rules() -> None:
    """Every severity the SLO generator writes maps to a PagerDuty level of its own, not the fallback."""
    from otelbundle.alerting.slo.model import WORKBOOK_TIERS

    for tier in WORKBOOK_TIERS:
        a = Alert({"alertname": "SLOBurn", "severity": tier.severity}, {}, "firing", T0, T1)
        assert pagerduty_event(a, "k")["payload"]["severity"] in {"critical", "warning"}


def test_email_has_escaped_html_and_plain_parts() -> None:
    evil = Alert(
        {"alertname": "X", "route": "<script>alert(1)</script>"}, {"summary": "a & b"}, "firing", T0, T1
    )
    message = email_message([evil], "alerts@example.com", ["ops@example.com", "dev@example.com"])
    assert message["Subject"] == "[FIRING:1] X"
    assert message["To"] == "ops@example.com, dev@example.com"
    plain = message.get_body(("plain",))
    html_part = message.get_body(("html",))
    assert plain is not None and html_part is not None
    assert "route: <script>alert(1)</script>" in plain.get_content()
    html_text = html_part.get_content()
    assert "<script>" not in html_text and "&lt;script&gt;" in html_text and "a &amp; b" in html_text


CONFIG = """\
alerting:
  notify:
    slack: {webhook_url: "${env:SLACK_WEBHOOK_URL}"}
    pagerduty: {routing_key: "${env:PAGERDUTY_ROUTING_KEY}", url: "ftp://x", colour: red}
    email:
      smarthost: "localhost:2525"
      from: alerts@example.com
      to: []
      starttls: sometimes
      password: "${env:SMTP_PASSWORD}"
"""


def _notify(text: str, env: dict[str, str]) -> YamlMap:
    root = load_text(text, "otelbundle.yaml", env).root
    section = root["alerting"]["notify"]
    assert isinstance(section, YamlMap)
    return section


def test_config_problems_have_positions() -> None:
    notifiers, problems = build_notifiers(_notify(CONFIG, {}), env={})
    assert notifiers == []
    messages = sorted(str(p) for p in problems)
    expected = [
        "otelbundle.yaml:10:18: notify.email.password is empty: environment variable SMTP_PASSWORD "
        "is not set; notify.email is off",
        "otelbundle.yaml:8:11: notify.email.to must be an address or a non-empty list of addresses",
        "otelbundle.yaml:9:17: notify.email.starttls must be auto, always or never",
    ]
    for line in expected:
        assert line in messages, messages
    assert any(
        m.startswith("otelbundle.yaml:3:") and "notify.slack.webhook_url is empty" in m for m in messages
    )
    assert any(m.startswith("otelbundle.yaml:4:") and "colour" in m for m in messages)
    assert any("notify.pagerduty.url: 'ftp://x' is not an http(s) URL" in m for m in messages)


def test_config_builds_all_three() -> None:
    text = """\
alerting:
  notify:
    slack: {webhook_url: "${env:SLACK_WEBHOOK_URL}", send_resolved: false}
    pagerduty: {routing_key: "${env:PAGERDUTY_ROUTING_KEY}", timeout: 2s}
    email: {smarthost: "mail:2525", from: a@x, to: b@x, username: u, password: "${env:SMTP_PASSWORD}"}
"""
    env = {
        "SLACK_WEBHOOK_URL": "https://hooks.slack.com/x",
        "PAGERDUTY_ROUTING_KEY": "rk",
        "SMTP_PASSWORD": "pw",
    }
    notifiers, problems = build_notifiers(_notify(text, env), env=env)
    assert problems == []
    by_name = {n.name: n for n in notifiers}
    slack, pd, mail = by_name["slack"], by_name["pagerduty"], by_name["email"]
    assert isinstance(slack, SlackNotifier) and slack.send_resolved is False
    assert isinstance(pd, PagerDutyNotifier) and pd.timeout == 2.0 and pd.routing_key == "rk"
    assert isinstance(mail, EmailNotifier)
    assert (mail.host, mail.port, mail.to, mail.password, mail.send_resolved) == (
        "mail",
        2525,
        ["b@x"],
        "pw",
        False,
    )


def test_alertmanager_and_webhook_go_through_the_same_parsing() -> None:
    text = """\
alerting:
  notify:
    alertmanager: {url: "${env:ALERTMANAGER_URL}"}
    webhook: {url: "mailto:x", timeout: soon}
"""
    notifiers, problems = build_notifiers(_notify(text, {}), env={})
    assert notifiers == []
    messages = [str(p) for p in problems]
    assert any(
        m.startswith("otelbundle.yaml:3:") and "notify.alertmanager.url is empty" in m for m in messages
    )
    assert any("notify.webhook.url: 'mailto:x' is not an http(s) URL" in m for m in messages)
    assert any(m.startswith("otelbundle.yaml:4:") and "notify.webhook.timeout" in m for m in messages)
    env = {"ALERTMANAGER_URL": "http://am:9093"}
    good = "alerting:\n  notify:\n    alertmanager: {url: '${env:ALERTMANAGER_URL}', timeout: 2s}\n"
    notifiers, problems = build_notifiers(_notify(good, env), env=env)
    assert problems == [] and [n.name for n in notifiers] == ["alertmanager"]


def test_email_smarthost_with_a_bad_port_is_a_located_problem() -> None:
    """Found by the config property test: a mapping or a non-numeric port raised ValueError."""
    text = """\
alerting:
  notify:
    email: {smarthost: {"": 0}, from: a@x, to: b@x}
"""
    notifiers, problems = build_notifiers(_notify(text, {}), env={})
    assert notifiers == []
    assert [str(p) for p in problems] == [
        "otelbundle.yaml:3:24: notify.email.smarthost must be host or host:port (port 1-65535), "
        "e.g. smtp.example.com:587"
    ]
    notifiers, problems = build_notifiers(_notify(text.replace('{"": 0}', "mail:99999"), {}), env={})
    assert notifiers == [] and len(problems) == 1


@pytest.mark.parametrize("url", ["http://[127.0.0.1:9/hook", "http://host:port/hook", "http://host:99999/x"])
def test_a_url_that_python_cannot_parse_is_a_located_problem(url: str) -> None:
    """urlparse raises on these (found by the config property test): a problem, not a crash."""
    text = f'alerting:\n  notify:\n    webhook: {{url: "{url}"}}\n'
    notifiers, problems = build_notifiers(_notify(text, {}), env={})
    assert notifiers == []
    assert [str(p) for p in problems] == [
        f"otelbundle.yaml:3:21: notify.webhook.url: {url!r} is not an http(s) URL"
    ]


def test_a_refused_url_from_a_variable_is_not_echoed() -> None:
    """A Slack webhook URL is its own credential: a problem names where it is, never its text."""
    text = 'alerting:\n  notify:\n    slack: {webhook_url: "${env:SLACK_WEBHOOK_URL}"}\n'
    secret = "hooks.slack.com/services/T000/B000/s3cr3tT0ken"  # no scheme: refused
    notifiers, problems = build_notifiers(_notify(text, {"SLACK_WEBHOOK_URL": secret}), env={})
    assert notifiers == []
    assert [str(p) for p in problems] == [
        "otelbundle.yaml:3:27: notify.slack.webhook_url: the value of its ${env:...} (not shown) "
        "is not an http(s) URL"
    ]
