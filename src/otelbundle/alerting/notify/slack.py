"""Slack incoming webhook: a Block Kit message with a plain ``text`` fallback.

Every label, annotation and span-derived string is escaped (``& < >``) before it
reaches mrkdwn, so text such as ``<!channel>`` or ``<http://evil|click>`` coming
from a span cannot ping a channel or forge a link.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from otelbundle.alerting.alert import Alert
from otelbundle.alerting.notify.base import post_json

_MAX_FIELDS = 10  # Slack rejects a section with more than 10 fields
_MAX_TEXT = 3000  # Slack's limit for a section text


def slack_escape(text: str) -> str:
    """Slack's documented control-character escaping; ``&`` first so it is not double-escaped."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _summary(alert: Alert) -> str:
    return alert.annotations.get("summary") or alert.annotations.get("description") or alert.name


def _alert_blocks(alert: Alert) -> list[dict[str, Any]]:
    icon = ":red_circle:" if alert.status == "firing" else ":large_green_circle:"
    header = f"[{alert.status.upper()}] {alert.name}"[:150]
    blocks: list[dict[str, Any]] = [
        {"type": "header", "text": {"type": "plain_text", "text": header}},
        {
            "type": "section",
            "text": {"type": "mrkdwn", "text": f"{icon} {slack_escape(_summary(alert))}"[:_MAX_TEXT]},
        },
    ]
    fields = [
        {"type": "mrkdwn", "text": f"*{slack_escape(k)}*: {slack_escape(v)}"[:2000]}
        for k, v in sorted(alert.labels.items())
        if k != "alertname"
    ][:_MAX_FIELDS]
    if fields:
        blocks.append({"type": "section", "fields": fields})
    context: list[str] = []
    if alert.generator_url:
        context.append(f"<{slack_escape(alert.generator_url)}|source>")
    if alert.trace_ids:
        context.append("traces: " + ", ".join(slack_escape(t) for t in alert.trace_ids[:5]))
    if context:
        blocks.append({"type": "context", "elements": [{"type": "mrkdwn", "text": " | ".join(context)}]})
    return blocks


def slack_payload(alerts: Sequence[Alert]) -> dict[str, Any]:
    blocks: list[dict[str, Any]] = []
    for alert in alerts:
        if len(blocks) + 4 > 50:  # Slack's limit of 50 blocks per message
            break
        if blocks:
            blocks.append({"type": "divider"})
        blocks.extend(_alert_blocks(alert))
    text = "; ".join(f"[{a.status.upper()}] {a.name}: {_summary(a)}" for a in alerts)
    return {"text": slack_escape(text)[:_MAX_TEXT], "blocks": blocks}


class SlackNotifier:
    def __init__(self, webhook_url: str, timeout: float = 5.0, send_resolved: bool = True) -> None:
        self.name = "slack"
        self.url = webhook_url
        self.timeout = timeout
        self.send_resolved = send_resolved

    def send(self, alerts: Sequence[Alert]) -> None:
        chosen = [a for a in alerts if self.send_resolved or a.status == "firing"]
        if chosen:
            post_json(self.url, slack_payload(chosen), timeout=self.timeout)
