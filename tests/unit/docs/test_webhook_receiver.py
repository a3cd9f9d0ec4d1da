"""The ``receiver`` of a webhook body is what docs/notifiers.md says it is.

The doc once said only "a webhook's body carries [the channel's name] as `receiver`",
right after saying an unnamed mapping's name is its kind: a reader expected
``"receiver": "webhook"`` and got ``"otelbundle"``. The sentence is found by its
wording, so a rewrite that drops it fails here and this test is rewritten with it.
"""

from __future__ import annotations

import re
from pathlib import Path

from otelbundle.alerting.notify import build_channels
from otelbundle.alerting.notify.webhook import WebhookNotifier
from otelbundle.config.loader import YamlMap, load_file
from tests.unit.docs.markdown import ROOT

NOTIFIERS = ROOT / "docs" / "notifiers.md"
_STATED = re.compile(r"without a `name:`\s+\(a single mapping\), `receiver` is `(?P<receiver>[^`]+)`")

CONFIG = """\
alerting:
  notify:
    webhook:
      - {name: pager, url: "http://127.0.0.1:9/pager"}
    alertmanager: {url: "http://127.0.0.1:9"}
"""
UNNAMED = 'alerting:\n  notify:\n    webhook: {url: "http://127.0.0.1:9/hook"}\n'


def _receivers(tmp_path: Path, text: str) -> list[str]:
    path = tmp_path / "otelbundle.yaml"
    path.write_text(text)
    section = load_file(str(path), {}).root["alerting"]["notify"]
    assert isinstance(section, YamlMap)
    channels, problems = build_channels(section, env={})
    assert problems == []
    return [c.notifier.receiver for c in channels if isinstance(c.notifier, WebhookNotifier)]


def test_the_documented_receiver_is_the_one_sent(tmp_path: Path) -> None:
    stated = _STATED.search(NOTIFIERS.read_text(encoding="utf-8"))
    assert stated, "docs/notifiers.md no longer says what `receiver` an unnamed webhook sends"
    assert _receivers(tmp_path, UNNAMED) == [stated["receiver"]]
    assert _receivers(tmp_path, CONFIG) == ["pager"]  # a name given is the receiver
