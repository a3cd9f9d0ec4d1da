"""Routing per channel: Alertmanager matchers, named channels, repeat_interval, and what they are counted as."""

from __future__ import annotations

import math
import threading
import time
from collections import Counter
from collections.abc import Sequence
from datetime import datetime, timezone
from pathlib import Path

import pytest
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader

from otelbundle.alerting.alert import Alert
from otelbundle.alerting.notify import (
    AlertmanagerNotifier,
    NotificationDispatcher,
    PermanentError,
    RetryableError,
    WebhookNotifier,
    build_channels,
)
from otelbundle.alerting.notify.matchers import Matcher, MatcherError, parse_matchers
from otelbundle.alerting.notify.routing import Channel
from otelbundle.alerting.notify.slack import SlackNotifier
from otelbundle.alerting.telemetry import register_notification_metrics, register_routing_metrics
from otelbundle.cli import main
from otelbundle.config import YamlMap, load_file
from tests.unit.alerting.notify.conftest import Scripted

T0 = datetime(2026, 11, 22, 23, 0, 0, tzinfo=timezone.utc)


def alert(status: str = "firing", **labels: str) -> Alert:
    return Alert(
        labels={"alertname": "A", **labels},
        annotations={},
        status=status,  # type: ignore[arg-type]
        starts_at=T0,
        ends_at=T0,
    )


# ---- matchers ------------------------------------------------------------------------------

LABELS = {
    "alertname": "CheckoutErrors",
    "severity": "critical",
    "team": "shop",
    "service_name": "store",
    "code": "503",
}


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ('severity="critical"', True),
        ("severity=critical", True),
        ('severity!="critical"', False),
        ('severity=~"warning|critical"', True),
        ('severity=~"crit"', False),  # anchored: the whole value must match
        ('severity=~"crit.*"', True),
        ('severity!~"warning|info"', True),
        ('team="shop", severity="critical"', True),
        ('{team="shop",severity="warning"}', False),
        ('env=""', True),  # a label the alert lacks is ""
        ('env!=""', False),
        ('env=~".*"', True),
        ('"service_name"="store"', True),
        ("service_name=store", True),
        # As Alertmanager reads them (its classic parser keeps a backslash that starts no escape):
        (r'code=~"5\d\d"', True),
        (r'code=~"5\d"', False),
        (r'team=~"sh\w+"', True),
        (r'team=~"sh\.p"', False),  # \. is a literal dot
        ('severity=~"(?i)CRITICAL"', True),  # Go's leading flags
        ('severity=~"(?i)crit"', False),  # still anchored
        ('severity=~"(?i:CRIT)ical"', True),
        (' team = "shop" ', True),
        ('alertname=~"Checkout.+"', True),
    ],
)
def test_matchers_as_in_alertmanager(text: str, expected: bool) -> None:
    assert all(m.matches(LABELS) for m in parse_matchers(text)) is expected


def test_quoted_values_take_escapes() -> None:
    (matcher,) = parse_matchers(r'summary="say \"hi\"\\n"')
    assert matcher.value == 'say "hi"\\n'
    assert str(matcher) == r'summary="say \"hi\"\\n"'


@pytest.mark.parametrize("value", ["line one\nline two", 'say "hi"', "C:\\temp", "a\\nb", ""])
def test_a_matcher_prints_as_text_that_reads_back_as_the_same_matcher(value: str) -> None:
    # config check prints matchers; what it prints must be a routing line one can copy back
    printed = str(Matcher("summary", "=", value))
    assert "\n" not in printed  # one line, whatever the value holds
    (again,) = parse_matchers(printed)
    assert again.value == value


@pytest.mark.parametrize(
    ("text", "value"),
    [
        # Alertmanager 0.31 too: its UTF-8 parser would read \t as a tab, but on such a
        # disagreement it keeps the classic parser's reading (tried with its binary).
        (r'a="x\ty"', "x\\ty"),
        (r'a="\x41"', "\\x41"),
        (r'a="5\d\"\n\\"', '5\\d"\n\\'),
    ],
)
def test_quoted_values_are_read_as_alertmanager_reads_them(text: str, value: str) -> None:
    (matcher,) = parse_matchers(text)
    assert matcher.value == value


def test_a_dotted_label_name_is_refused_it_would_never_match() -> None:
    for text in ('http.route="/checkout"', 'team="shop", "http.route"=~"/c.*"'):
        with pytest.raises(MatcherError, match=r"alerts carry only names like.*'http_route'"):
            parse_matchers(text)


@pytest.mark.parametrize(
    ("text", "message", "offset"),
    [
        ('severity=>"critical"', "unexpected", 10),
        ('severity~"critical"', "expected one of =, !=, =~, !~", 8),
        ('severity=~"(critical"', "bad regex", 10),
        ('severity="critical', "unterminated quoted string", 9),
        ('{severity="critical"', "missing closing '}'", 20),
        ('severity="critical" team="shop"', "separate matchers with commas", 20),
        ("", "no matcher", 0),
        ("=critical", "expected a label name", 0),
        ('severity=~"a(?i)b"', "bad regex", 10),
        (' "a-b"="x"', "would never match", 1),
        # What Python's re reads and Alertmanager's RE2 refuses
        ('team=~"shop(?!-dev)"', "uses a negative lookahead (?!...), which Alertmanager's", 6),
        ('team!~"(?<=x)y"', "uses a lookbehind (?<=...), which", 6),
        ('code=~"(5)\\\\1"', "uses \\1 (a backreference, or Python's octal escape)", 6),
        ('code=~"(?P<d>5)(?P=d)"', "uses a named backreference (?P=name)", 6),
    ],
)
def test_matcher_problems_say_where(text: str, message: str, offset: int) -> None:
    with pytest.raises(MatcherError) as caught:
        parse_matchers(text)
    assert message in str(caught.value)
    assert caught.value.offset == offset


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("team=", [("team", "=", "")]),  # an empty bare value: the label is absent or empty
        ('{team="shop"}', [("team", "=", "shop")]),
        ('  {team="shop"}', [("team", "=", "shop")]),
        ('team="shop",env!="dev"', [("team", "=", "shop"), ("env", "!=", "dev")]),
        ('{team="shop",env!="dev"}', [("team", "=", "shop"), ("env", "!=", "dev")]),
    ],
)
def test_matchers_are_read_whatever_the_spacing(text: str, expected: list[tuple[str, str, str]]) -> None:
    assert [(m.name, m.op, m.value) for m in parse_matchers(text)] == expected


def test_an_empty_bare_value_matches_an_alert_without_the_label() -> None:
    (matcher,) = parse_matchers("team=")
    assert matcher.matches({"alertname": "A"})
    assert not matcher.matches({"alertname": "A", "team": "shop"})


@pytest.mark.parametrize(
    ("text", "message", "offset"),
    [
        ('{team="shop"}x', "unexpected 'x' after '}'", 13),
        ('team="shop"}', "unexpected '}' after 'team=\"shop\"'", 11),
    ],
)
def test_text_after_the_matchers_is_refused_where_it_starts(text: str, message: str, offset: int) -> None:
    with pytest.raises(MatcherError) as caught:
        parse_matchers(text)
    assert message in str(caught.value)
    assert caught.value.offset == offset


@pytest.mark.parametrize("regex", ["\\\\(?=x\\\\)", "[(?=]x", "a\\\\\\\\1", "5\\\\d\\\\d", "(?i)warn|crit"])
def test_literal_look_alikes_are_regexes_both_engines_read(regex: str) -> None:
    (matcher,) = parse_matchers(f'v=~"{regex}"')
    assert matcher.pattern is not None


# ---- channels from the config ---------------------------------------------------------------

CONFIG = """\
alerting:
  notify:
    webhook:
      - {name: pager, url: "http://127.0.0.1:9/pager", match: ['severity="critical"']}
      - name: chat
        url: "http://127.0.0.1:9/chat"
        match: ['severity=~"warning|critical"', 'team="shop"']
        repeat_interval: 4h
    slack: {webhook_url: "http://127.0.0.1:9/slack", match: ['team="shop"']}
    alertmanager: {url: "http://127.0.0.1:9/"}
"""


def notify_section(tmp_path: Path, text: str) -> YamlMap:
    path = tmp_path / "otelbundle.yaml"
    path.write_text(text)
    section = load_file(str(path), {}).root["alerting"]["notify"]
    assert isinstance(section, YamlMap)
    return section


def test_a_kind_may_be_a_list_of_named_channels_and_a_mapping_still_works(tmp_path: Path) -> None:
    channels, problems = build_channels(notify_section(tmp_path, CONFIG), env={})
    assert problems == []
    found = {c.name: (c.kind, [str(m) for m in c.matchers], c.repeat_interval) for c in channels}
    assert found == {
        "alertmanager": ("alertmanager", [], 0.0),
        "pager": ("webhook", ['severity="critical"'], 4 * 3600.0),  # Alertmanager's default
        "chat": ("webhook", ['severity=~"warning|critical"', 'team="shop"'], 4 * 3600.0),
        "slack": ("slack", ['team="shop"'], 4 * 3600.0),
    }


PEOPLE_CHANNELS = {
    "slack": '{webhook_url: "http://127.0.0.1:9/slack"}',
    "webhook": '{url: "http://127.0.0.1:9/hook"}',
    "pagerduty": '{routing_key: k, url: "http://127.0.0.1:9/pd"}',
    "email": "{smarthost: 127.0.0.1:9, from: a@example.com, to: [b@example.com]}",
}


@pytest.mark.parametrize("kind", sorted(PEOPLE_CHANNELS))
def test_a_channel_people_read_repeats_a_firing_alert_every_4h_by_default(tmp_path: Path, kind: str) -> None:
    """Without repeat_interval a firing alert reached Slack or a mailbox at every re-send of the
    engine (each resend_delay, a minute by default). Alertmanager's default is 4h."""
    section = notify_section(tmp_path, f"alerting:\n  notify:\n    {kind}: {PEOPLE_CHANNELS[kind]}\n")
    channels, problems = build_channels(section)
    assert problems == []
    (channel,) = channels
    taken = [
        minute for minute in range(0, 8 * 60 + 1) if channel.select([alert()], 1000.0 + 60 * minute)
    ]  # the engine re-sends the firing alert every minute for 8 hours
    assert taken == [0, 240, 480]
    resolved = channel.select([alert("resolved")], 1000.0 + 60 * 481)  # a change of status goes through
    assert resolved == ([] if kind == "email" else [alert("resolved")])  # email: send_resolved false


def test_alertmanager_still_gets_every_resend_by_default(tmp_path: Path) -> None:
    """Its firing alerts' endsAt is renewed by the re-sends (Alertmanager repeats by itself)."""
    section = notify_section(
        tmp_path, 'alerting:\n  notify:\n    alertmanager: {url: "http://127.0.0.1:9/"}\n'
    )
    (channel,), problems = build_channels(section)
    assert problems == [] and channel.repeat_interval == 0
    assert all(channel.select([alert()], 1000.0 + 60 * minute) for minute in range(10))


def test_repeat_interval_0s_asks_for_every_resend(tmp_path: Path) -> None:
    section = notify_section(
        tmp_path,
        'alerting:\n  notify:\n    slack: {webhook_url: "http://127.0.0.1:9/s", repeat_interval: 0s}\n',
    )
    (channel,), problems = build_channels(section)
    assert problems == [] and channel.repeat_interval == 0 and not channel.repeat_default
    assert all(channel.select([alert()], 1000.0 + 60 * minute) for minute in range(10))


def test_a_negative_repeat_interval_is_a_located_problem(tmp_path: Path) -> None:
    section = notify_section(
        tmp_path,
        'alerting:\n  notify:\n    slack: {webhook_url: "http://127.0.0.1:9/s", repeat_interval: -1m}\n',
    )
    channels, problems = build_channels(section)
    assert channels == [] and len(problems) == 1
    assert "otelbundle.yaml:3:" in str(problems[0]) and "notify.slack.repeat_interval" in str(problems[0])


def test_config_check_says_a_channel_of_repeat_interval_0s_repeats_at_every_resend() -> None:
    assert (
        Channel("chat", "webhook", Recording("webhook"), repeat_interval=0.0).repeats()
        == "chat at every re-send"
    )


def test_config_check_says_how_often_each_channel_repeats(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "otelbundle.yaml"
    path.write_text(CONFIG.replace("repeat_interval: 4h", "repeat_interval: 30m"))
    assert main(["config", "check", str(path)]) == 0
    out = capsys.readouterr().out
    assert (
        "4 notifiers (repeating a firing alert: alertmanager as Alertmanager's route says, "
        "pager every 4h (default), chat every 30m, slack every 4h (default))"
    ) in out


def test_matcher_problems_are_located_at_the_character(tmp_path: Path) -> None:
    text = CONFIG.replace("""['severity="critical"']}""", """['severity=>"critical"']}""")
    channels, problems = build_channels(notify_section(tmp_path, text), env={})
    assert [str(p) for p in problems] == [
        f"{tmp_path / 'otelbundle.yaml'}:4:75: notify.webhook[0].match: unexpected '\"critical\"' after "
        "'severity=>' (separate matchers with commas) in 'severity=>\"critical\"'"
    ]
    assert "pager" not in {c.name for c in channels}  # that channel is off, the others work
    line = text.splitlines()[3]
    assert line[74] == '"'  # column 75: where the matcher stops making sense


def test_duplicate_and_missing_names_are_problems(tmp_path: Path) -> None:
    text = CONFIG.replace("name: chat", "name: pager").replace("{name: pager, url", "{url", 0)
    text += '    pagerduty:\n      - {routing_key: "k"}\n'
    channels, problems = build_channels(notify_section(tmp_path, text), env={})
    messages = [str(p).split(": ", 1)[1] for p in problems]
    assert any("channel name 'pager' is already used at" in m and ":4:" in m for m in messages), messages
    assert "notify.pagerduty[0] needs a name: each channel of a list is named" in messages
    assert sorted(c.name for c in channels) == ["alertmanager", "pager", "slack"]


def test_a_mapping_may_name_itself_and_names_are_checked(tmp_path: Path) -> None:
    text = CONFIG.replace("slack: {webhook_url", 'slack: {name: "bad name", webhook_url')
    _, problems = build_channels(notify_section(tmp_path, text), env={})
    assert [p.message for p in problems] == [
        "notify.slack.name 'bad name' must be letters, digits, '_', '.' or '-' (at most 63)"
    ]


def test_rules_check_reports_a_bad_matcher(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "otelbundle.yaml").write_text(
        CONFIG.replace("""'team="shop"']\n""", """'team=~"(shop"']\n""")
    )
    assert main(["rules", "check", str(tmp_path / "otelbundle.yaml")]) == 1
    err = capsys.readouterr()
    assert "otelbundle.yaml:7:56: notify.webhook[1].match: bad regex '(shop'" in err.out + err.err
    assert (tmp_path / "otelbundle.yaml").read_text().splitlines()[6][55:61] == '"(shop'


AM_REPEAT = (
    "notify.alertmanager.repeat_interval: Alertmanager has its own repeat_interval in its route; "
    "this one would let alerts expire (Alertmanager resolves a firing alert whose re-sends stop): "
    "remove it and set repeat_interval in Alertmanager's route"
)


def test_repeat_interval_on_alertmanager_is_refused_where_it_is_written(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    text = CONFIG.replace(
        'alertmanager: {url: "http://127.0.0.1:9/"}',
        'alertmanager: {url: "http://127.0.0.1:9/", repeat_interval: 4h}',
    )
    channels, problems = build_channels(notify_section(tmp_path, text), env={})
    assert [str(p) for p in problems] == [f"{tmp_path / 'otelbundle.yaml'}:10:65: {AM_REPEAT}"]
    assert text.splitlines()[9][64:66] == "4h"
    assert sorted(c.name for c in channels) == ["chat", "pager", "slack"]  # that channel is off
    assert main(["config", "check", str(tmp_path / "otelbundle.yaml")]) == 1
    assert f"otelbundle.yaml:10:65: {AM_REPEAT}" in capsys.readouterr().err


# ---- the dispatcher --------------------------------------------------------------------------


class Recording:
    def __init__(self, name: str) -> None:
        self.name = name
        self.got: list[list[Alert]] = []

    def send(self, alerts: Sequence[Alert]) -> None:
        self.got.append(list(alerts))


def test_each_channel_gets_exactly_its_alerts_and_the_rest_is_counted(tmp_path: Path) -> None:
    pager, chat, everything = Recording("webhook"), Recording("webhook"), Recording("alertmanager")
    now = [1000.0]
    dispatcher = NotificationDispatcher(
        [
            Channel("pager", "webhook", pager, tuple(parse_matchers('severity="critical"'))),
            Channel("chat", "webhook", chat, tuple(parse_matchers('severity="warning"'))),
        ],
        clock=lambda: now[0],
    )
    critical, warning, info = alert(severity="critical"), alert(severity="warning"), alert(severity="info")
    dispatcher.submit([critical, warning, info])
    assert dispatcher.flush(5)
    assert pager.got == [[critical]] and chat.got == [[warning]]
    assert dispatcher.unrouted == 1
    dispatcher.shutdown()
    assert everything.got == []


def test_channels_built_in_code_repeat_as_the_config_s_do(tmp_path: Path, scripted: Scripted) -> None:
    """A plain notifier given to the dispatcher (or a Channel without repeat_interval) repeated a
    firing alert at every re-send of the engine: a webhook or Slack built in Python got 10 messages
    in 10 minutes where the same channel from otelbundle.yaml got 1. Both now take the kind's
    default: 4h, and every re-send for alertmanager."""
    section = notify_section(
        tmp_path, f"alerting:\n  notify:\n    webhook: {{url: '{scripted.url}/from-config'}}\n"
    )
    from_config, problems = build_channels(section)
    assert problems == []
    slack = Channel("chat", "slack", SlackNotifier(f"{scripted.url}/slack-in-code"))
    now = [1000.0]
    dispatcher = NotificationDispatcher(
        [
            *from_config,
            WebhookNotifier(f"{scripted.url}/webhook-in-code"),
            slack,
            AlertmanagerNotifier(f"{scripted.url}/am"),
        ],
        clock=lambda: now[0],
    )
    firing = alert(severity="warning")
    for minute in range(10):  # the engine re-sends a firing alert every resend_delay (1m)
        now[0] = 1000.0 + 60 * minute
        dispatcher.submit([firing])
    now[0] += 60
    dispatcher.submit([resolved_at(11, severity="warning")])  # a change of status goes through
    assert dispatcher.flush(30)
    dispatcher.shutdown()
    paths = Counter(seen.path for seen in scripted.seen)
    assert paths == {
        "/from-config": 2,
        "/webhook-in-code": 2,
        "/slack-in-code": 2,
        "/am/api/v2/alerts": 11,
    }
    assert [channel.repeats() for channel in dispatcher.channels] == [
        "webhook every 4h (default)",
        "webhook-2 every 4h (default)",  # the config's channel is named webhook
        "chat every 4h (default)",
        "alertmanager as Alertmanager's route says",
    ]


@pytest.mark.parametrize("value", [-1.0, math.nan])
def test_a_channel_built_in_code_refuses_a_negative_repeat_interval(value: float) -> None:
    with pytest.raises(ValueError, match=r"channel 'chat': repeat_interval must be 0 .* or more seconds"):
        Channel("chat", "slack", Recording("slack"), repeat_interval=value)


def test_an_alertmanager_channel_built_in_code_refuses_a_repeat_interval() -> None:
    """Held back, its alerts' endsAt would pass and Alertmanager would resolve them while firing."""
    with pytest.raises(ValueError, match=r"channel 'am': an alertmanager channel needs every re-send"):
        Channel("am", "alertmanager", Recording("alertmanager"), repeat_interval=3600.0)
    assert Channel("am", "alertmanager", Recording("alertmanager"), repeat_interval=0.0).repeat_interval == 0


def test_repeat_interval_holds_back_resends_but_not_a_change_of_status() -> None:
    chat = Recording("webhook")
    now = [1000.0]
    dispatcher = NotificationDispatcher([Channel("chat", "webhook", chat, (), 3600.0)], clock=lambda: now[0])
    firing, resolved = alert(severity="warning"), alert("resolved", severity="warning")
    for step in range(5):  # the engine re-sends every resend_delay (here each minute)
        now[0] = 1000.0 + 60 * step
        dispatcher.submit([firing])
    now[0] += 60
    dispatcher.submit([resolved])
    now[0] += 60
    dispatcher.submit([resolved])  # resolved re-sends are held back too
    now[0] = 1000.0 + 3600
    dispatcher.submit([firing])  # firing again: a change
    now[0] += 3600
    dispatcher.submit([firing])  # an hour later: repeated
    assert dispatcher.flush(5)
    assert [a.status for batch in chat.got for a in batch] == ["firing", "resolved", "firing", "firing"]
    dispatcher.shutdown()


def test_metrics_carry_the_channel_name_and_the_unrouted_count() -> None:
    reader = InMemoryMetricReader()
    provider = MeterProvider(metric_readers=[reader])
    dispatcher = NotificationDispatcher(
        [
            Channel("pager", "webhook", Recording("webhook"), tuple(parse_matchers("severity=critical"))),
            Channel("chat", "webhook", Recording("webhook")),
        ]
    )
    meter = provider.get_meter("test")
    register_notification_metrics(dispatcher, meter)
    register_routing_metrics(dispatcher, meter)
    dispatcher.submit([alert(severity="critical"), alert(severity="info")])
    assert dispatcher.flush(5)
    points = {
        (m.name, tuple(sorted((p.attributes or {}).items()))): p.value
        for rm in reader.get_metrics_data().resource_metrics  # type: ignore[union-attr]
        for sm in rm.scope_metrics
        for m in sm.metrics
        for p in m.data.data_points  # type: ignore[union-attr]
    }
    sent = "otelbundle.alerting.notifications.sent"
    assert points[(sent, (("channel", "pager"), ("notifier", "webhook")))] == 1
    assert points[(sent, (("channel", "chat"), ("notifier", "webhook")))] == 1
    assert points[("otelbundle.alerting.notifications.unrouted", ())] == 0
    dispatcher.submit([alert(severity="info", alertname="B")])  # chat takes everything: still routed
    dispatcher.shutdown()
    provider.shutdown()


def resolved_at(minute: int, **labels: str) -> Alert:
    return Alert(
        labels={"alertname": "A", **labels},
        annotations={},
        status="resolved",
        starts_at=T0,
        ends_at=T0.replace(minute=minute),  # a resolved alert's ends_at is its resolve time
    )


def test_a_resolution_reaches_people_once_and_alertmanager_and_pagerduty_every_time() -> None:
    """The engine re-sends a resolved alert every resend_delay for 15 minutes (Prometheus): fine for
    Alertmanager and PagerDuty, which merge them, but Slack showed "[RESOLVED]" 16 times."""
    kinds = ("slack", "email", "webhook", "alertmanager", "pagerduty")
    recorders = {kind: Recording(kind) for kind in kinds}
    now = [1000.0]
    dispatcher = NotificationDispatcher(  # 0s: every firing re-send too, only resolutions differ
        [Channel(kind, kind, recorders[kind], repeat_interval=0.0) for kind in kinds], clock=lambda: now[0]
    )
    firing = alert(severity="warning")
    sequence = [firing] + [resolved_at(10, severity="warning")] * 16  # resolved, then 15 re-sends
    sequence += [firing, firing] + [resolved_at(40, severity="warning")] * 3  # fires and resolves again
    for step, sent in enumerate(sequence):
        now[0] = 1000.0 + 60 * step
        dispatcher.submit([sent])
    assert dispatcher.flush(5)
    statuses = {kind: "".join(a.status[0] for b in r.got for a in b) for kind, r in recorders.items()}
    for kind in ("slack", "email", "webhook"):
        assert statuses[kind] == "frffr", kind
    for kind in ("alertmanager", "pagerduty"):
        assert statuses[kind] == "f" + "r" * 16 + "ff" + "rrr", kind
    dispatcher.shutdown()


class DownFor:
    """A channel whose first ``calls`` sends fail as a 5xx would."""

    def __init__(self, calls: int) -> None:
        self.name = "webhook"
        self.calls = calls
        self.got: list[str] = []

    def send(self, alerts: Sequence[Alert]) -> None:
        if self.calls > 0:
            self.calls -= 1
            raise RetryableError("HTTP 500")
        self.got.extend(a.status for a in alerts)


@pytest.mark.parametrize("kind", ["webhook", "slack"])
def test_a_notification_given_up_on_does_not_start_repeat_interval(kind: str) -> None:
    """A chat webhook down for the first notification of an alert (and its retries) held every
    re-send back for repeat_interval: a 30-minute incident was never notified. Alertmanager counts
    repeat_interval from the last notification that went out."""
    chat = DownFor(calls=2)
    now = [1000.0]
    dispatcher = NotificationDispatcher(
        [Channel("chat", kind, chat, (), 3600.0)], max_retries=1, base_delay=0.001, clock=lambda: now[0]
    )
    firing = alert(severity="warning")
    for step in range(30):  # still firing; the engine re-sends each minute
        now[0] = 1000.0 + 60 * step
        dispatcher.submit([firing])
        assert dispatcher.flush(5)
    assert chat.got == ["firing"]  # the re-send after the failure went out; the later ones wait
    chat.calls = 2
    for _ in range(3):  # its resolution fails too: the next re-send of it is let through
        now[0] += 60
        dispatcher.submit([resolved_at(10, severity="warning")])
        assert dispatcher.flush(5)
    assert chat.got == ["firing", "resolved"]
    assert dispatcher.stats()["chat"].failed == 2
    dispatcher.shutdown()


def test_a_batch_dropped_from_a_full_queue_does_not_start_repeat_interval() -> None:
    release = threading.Event()

    class Stuck(Recording):
        def send(self, alerts: Sequence[Alert]) -> None:
            release.wait(5)
            super().send(alerts)

    chat = Stuck("webhook")
    now = [1000.0]
    dispatcher = NotificationDispatcher(
        [Channel("chat", "webhook", chat, (), 3600.0)], queue_size=1, clock=lambda: now[0]
    )
    stuck, dropped = alert(team="stuck"), alert(team="dropped")
    dispatcher.submit([stuck])  # taken by the delivery thread, which waits
    deadline = time.monotonic() + 5
    while dispatcher._workers[0].queue and time.monotonic() < deadline:
        time.sleep(0.01)
    dispatcher.submit([dropped])  # queued
    dispatcher.submit([alert(team="third")])  # the queue is full: `dropped` goes
    now[0] += 60
    dispatcher.submit([dropped])  # its re-send is not held back by repeat_interval
    release.set()
    assert dispatcher.flush(5)
    assert [a.labels["team"] for batch in chat.got for a in batch] == ["stuck", "dropped"]
    assert dispatcher.stats()["chat"].dropped == 2
    dispatcher.shutdown()


def test_a_resolution_a_channel_does_not_send_is_not_counted_as_sent(tmp_path: Path) -> None:
    """Email (send_resolved false by default) and Slack with send_resolved: false were handed
    resolved-only batches, skipped them, and counted each as `sent`: a notification never sent."""
    section = notify_section(
        tmp_path,
        "alerting:\n  notify:\n"
        '    email: {smarthost: "127.0.0.1:9", from: a@example.com, to: [b@example.com]}\n'
        '    slack: {webhook_url: "http://127.0.0.1:9/slack", send_resolved: false, repeat_interval: 1h}\n',
    )
    channels, problems = build_channels(section)
    assert problems == []
    now = [1000.0]
    dispatcher = NotificationDispatcher(channels, clock=lambda: now[0])
    dispatcher.submit([resolved_at(10)])
    assert dispatcher.flush(5)
    assert {name: stats.sent for name, stats in dispatcher.stats().items()} == {"slack": 0, "email": 0}
    dispatcher.shutdown()
    slack = next(c for c in channels if c.kind == "slack")
    assert slack.select([alert()], now[0] + 60) == [alert()]  # firing again after it: a change of status


def test_a_notification_delivered_in_part_still_starts_repeat_interval() -> None:
    """A mail some recipients refused reached the others: re-sending it at the next resend would
    give them the same alert every minute despite repeat_interval."""

    class PartlyRefused(Recording):
        def send(self, alerts: Sequence[Alert]) -> None:
            super().send(alerts)
            raise PermanentError("SMTP recipients refused: ['typo@example.com']", delivered=True)

    mail = PartlyRefused("email")
    now = [1000.0]
    dispatcher = NotificationDispatcher([Channel("mail", "email", mail, (), 3600.0)], clock=lambda: now[0])
    for step in range(5):
        now[0] = 1000.0 + 60 * step
        dispatcher.submit([alert()])
        assert dispatcher.flush(5)
    assert len(mail.got) == 1 and dispatcher.stats()["mail"].failed == 1
    dispatcher.shutdown()


def test_two_plain_notifiers_of_one_kind_are_counted_apart(scripted: Scripted, other: Scripted) -> None:
    """Both were the channel 'webhook': stats() kept one of them and the metrics carried one series,
    so a webhook refusing every alert was hidden behind the one that took them."""
    scripted.answers.append((400, {}))
    dispatcher = NotificationDispatcher(
        [WebhookNotifier(f"{scripted.url}/a"), WebhookNotifier(f"{other.url}/b")]
    )
    dispatcher.submit([alert(severity="critical")])
    assert dispatcher.flush(30)
    dispatcher.shutdown()
    stats = {name: (s.sent, s.failed) for name, s in dispatcher.stats().items()}
    assert stats == {"webhook": (0, 1), "webhook-2": (1, 0)}
    assert [c.name for c in dispatcher.channels] == ["webhook", "webhook-2"]


def test_two_channels_of_one_name_are_refused() -> None:
    with pytest.raises(ValueError, match="two channels are named 'chat'"):
        NotificationDispatcher(
            [Channel("chat", "slack", Recording("slack")), Channel("chat", "webhook", Recording("webhook"))]
        )
    # a plain notifier steps aside for a channel named as its kind
    dispatcher = NotificationDispatcher(
        [Recording("webhook"), Channel("webhook", "webhook", Recording("webhook"))]
    )
    assert [c.name for c in dispatcher.channels] == ["webhook-2", "webhook"]
    dispatcher.shutdown()
