"""Slack incoming webhook: a Block Kit message with a plain ``text`` fallback.

Every label, annotation and span-derived string is escaped (``& < >``) before it
reaches mrkdwn, so text such as ``<!channel>`` or ``<http://evil|click>`` coming
from a span cannot ping a channel or forge a link. Evidence (the exception, the
span, the trace link and log lines of an exemplar trace) gets a section per
trace, its log lines in a code block whose backticks are neutralised so that a
log line cannot end the block.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from otelbundle.alerting.alert import Alert, Evidence
from otelbundle.alerting.notify.base import post_json

_MAX_FIELDS = 10  # Slack rejects a section with more than 10 fields
_MAX_TEXT = 3000  # Slack's limit for a section text
_MAX_BLOCKS = 50  # Slack's limit per message
SLACK_EVIDENCE = 2  # exemplar traces shown per alert


def slack_escape(text: str) -> str:
    """Slack's documented control-character escaping; ``&`` first so it is not double-escaped."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _code(text: str) -> str:
    """Escaped for mrkdwn, with backticks that cannot open or close a code span or block."""
    return slack_escape(text).replace("`", "\u02cb")


def _evidence_blocks(evidence: Evidence) -> list[dict[str, Any]]:
    lines = []
    if evidence.exception_type or evidence.exception_message:
        head = f"*{slack_escape(evidence.exception_type)}*" if evidence.exception_type else ""
        message = slack_escape(evidence.exception_message)
        lines.append(":warning: " + (f"{head}: {message}" if head and message else head or message))
    where = [f"`{_code(evidence.span_name)}`"] if evidence.span_name else []
    if evidence.route and evidence.route not in evidence.span_name:
        where.append(f"route `{_code(evidence.route)}`")
    if evidence.trace_url:
        where.append(f"<{slack_escape(evidence.trace_url)}|trace {evidence.trace_id[:8]}>")
    else:
        where.append(f"trace {slack_escape(evidence.trace_id)}")
    lines.append(" · ".join(where))
    blocks: list[dict[str, Any]] = [
        {"type": "section", "text": {"type": "mrkdwn", "text": "\n".join(lines)[:_MAX_TEXT]}}
    ]
    if evidence.log_lines:
        body = "\n".join(_code(line) for line in evidence.log_lines)
        blocks.append(
            {"type": "section", "text": {"type": "mrkdwn", "text": f"```{body[: _MAX_TEXT - 6]}```"}}
        )
    return blocks


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
    for evidence in alert.evidence[:SLACK_EVIDENCE]:
        blocks.extend(_evidence_blocks(evidence))
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
        more = _alert_blocks(alert)
        if len(blocks) + len(more) + 1 > _MAX_BLOCKS:
            break
        if blocks:
            blocks.append({"type": "divider"})
        blocks.extend(more)
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
