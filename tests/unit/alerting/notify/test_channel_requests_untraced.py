"""A channel's own requests are not the application's, and a header value cannot leak through
an error message.

Reported: with the contrib urllib instrumentation installed (``opentelemetry-bootstrap``
installs it), each webhook POST was an app span; a failed one an error span that the rules
alerted on, the channel alerting about itself. And a webhook header from a variable holding a
line break (a Kubernetes secret file ends in one) failed at send time with http.client's
``Invalid header value b'...'``, the secret in the message that was logged and exported.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timezone

from opentelemetry.instrumentation.utils import is_http_instrumentation_enabled, is_instrumentation_enabled

from otelbundle.alerting.alert import Alert
from otelbundle.alerting.notify import NotificationDispatcher, build_notifiers
from otelbundle.alerting.notify.base import PermanentError, post_json
from otelbundle.config.loader import YamlMap, load_text

T = datetime(2026, 1, 1, tzinfo=timezone.utc)


class Observer:
    """What an instrumentation asks before it traces a call, asked where a channel sends."""

    name = "observer"

    def __init__(self) -> None:
        self.traced: list[tuple[bool, bool]] = []

    def send(self, alerts: Sequence[Alert]) -> None:
        self.traced.append((is_instrumentation_enabled(), is_http_instrumentation_enabled()))


def test_a_channel_sends_with_instrumentation_suppressed() -> None:
    observer = Observer()
    dispatcher = NotificationDispatcher([observer])
    dispatcher.submit([Alert({"alertname": "A"}, {}, "firing", T, T)])
    assert dispatcher.flush(5)
    dispatcher.shutdown()
    assert observer.traced == [(False, False)]
    assert is_instrumentation_enabled()  # only the channel's thread, only while it sends


def _notify(text: str, env: dict[str, str]) -> YamlMap:
    section = load_text(text, "otelbundle.yaml", env).root["alerting"]["notify"]
    assert isinstance(section, YamlMap)
    return section


CONFIG = """\
alerting:
  notify:
    webhook:
      url: http://127.0.0.1:9/hook
      headers: {X-Token: "${env:HOOK_TOKEN}"}
"""


def test_a_header_value_with_a_line_break_is_refused_at_its_place_without_the_value() -> None:
    secret = "S3KR1T_crlf\r\nX-Evil: 1"
    notifiers, problems = build_notifiers(_notify(CONFIG, {"HOOK_TOKEN": secret}), env={"HOOK_TOKEN": secret})
    assert notifiers == []
    assert [str(p) for p in problems] == [
        "otelbundle.yaml:5:27: notify.webhook.headers.X-Token holds a line break or control character "
        "(from ${env:...}: check the variable's value); notify.webhook is off"
    ]


def test_a_trailing_newline_of_a_secret_file_is_not_sent() -> None:
    env = {"HOOK_TOKEN": "S3KR1T_trailing_nl\n"}
    [notifier], problems = build_notifiers(_notify(CONFIG, env), env=env)
    assert problems == []
    assert notifier.headers == {"X-Token": "S3KR1T_trailing_nl"}  # type: ignore[attr-defined]


def test_a_bad_header_from_code_fails_without_quoting_the_value() -> None:
    try:
        post_json("http://127.0.0.1:9/hook", {}, headers={"X-Token": "S3KR1T\nX: 1"}, timeout=1)
    except PermanentError as exc:
        assert "S3KR1T" not in str(exc) and "not valid HTTP" in str(exc), exc
    else:
        raise AssertionError("sent")
