"""Slack incoming webhook: a Block Kit message with a plain ``text`` fallback.

Every label, annotation and span-derived string is escaped (``& < >``) before it
reaches mrkdwn, so text such as ``<!channel>`` or ``<http://evil|click>`` coming
from a span cannot ping a channel or forge a link. Evidence (the exception, the
span, the trace link and log lines of an exemplar trace) gets a section per
trace, its log lines in a code block whose backticks are neutralised so that a
log line cannot end the block.

Slack refuses a whole message that breaks one of its limits, so every text is
cut to its limit *before* it is escaped (a cut never splits ``&amp;``), and the
alerts that do not fit in one message are not dropped silently: the last block
says how many were left out and names them.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Callable, Sequence
from typing import Any

from otelbundle.alerting.alert import Alert, Evidence
from otelbundle.alerting.notify.base import post_json

# Slack's Block Kit limits (https://docs.slack.dev/reference/block-kit/blocks and the page
# of each block): 50 blocks per message; a section's text 3000 characters, at most 10
# fields of 2000 each; a header 150; a context block at most 10 elements, each a text
# object of at most 3000.
_MAX_BLOCKS = 50
_MAX_TEXT = 3000
_MAX_FIELDS = 10
_MAX_HEADER = 150
# Slack also refuses a message whose blocks hold too much text in total
# (``msg_blocks_too_long``). That limit is not documented for section, header or context
# blocks: the markdown block's page gives 12,000 characters in total, and reports
# (github.com/slackapi/bolt-js issues 2509 and 2867) saw the refusal from about 11,300
# to 13,300 characters, Slack's staff answering "12,000 text characters with a buffer for
# block containers". So all the texts of the blocks together stay under 10,000.
_MAX_TOTAL = 10_000
# Our own caps, small enough that any one alert without evidence fits in _MAX_TOTAL.
_MAX_FIELD = 250  # a label in the two-column fields (Slack allows 2000)
_MAX_URL = 1200  # a longer link is left out rather than cut into a wrong one
_MAX_NOTICE = 600  # the "and N more alerts" line
SLACK_EVIDENCE = 2  # exemplar traces shown per alert
_ELLIPSIS = "…"


def slack_escape(text: str) -> str:
    """Slack's documented control-character escaping; ``&`` first so it is not double-escaped."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _code(text: str) -> str:
    """Escaped for mrkdwn, with backticks that cannot open or close a code span or block."""
    return slack_escape(text).replace("`", "\u02cb")


def text_length(text: str) -> int:
    """Length in UTF-16 code units, as JavaScript counts: never less than Slack's count, however
    Slack counts a character outside the BMP (an emoji is 2 here). A lone surrogate counts 1, as
    the U+FFFD post_json sends in its place (it raised, and the whole message was lost)."""
    return len(text.encode("utf-16-le", "surrogatepass")) // 2


def fit(text: str, limit: int, escape: Callable[[str], str] = slack_escape) -> str:
    """``escape(text)`` in at most ``limit`` characters, cut with ``…``.

    The raw text is cut, character by character, before escaping: a cut after escaping
    could end inside an entity (``&am``), which Slack shows as garbage.
    """
    escaped = escape(text)
    if text_length(escaped) <= limit:
        return escaped
    room = limit - text_length(_ELLIPSIS)
    kept: list[str] = []
    for char in text:
        piece = escape(char)
        room -= text_length(piece)
        if room < 0:
            break
        kept.append(piece)
    return "".join(kept) + _ELLIPSIS


def _plain(text: str, limit: int) -> str:
    """A ``plain_text`` object's text (never parsed by Slack, so not escaped) cut to ``limit``."""
    return fit(text, limit, escape=lambda s: s)


_LINK_URL_SPECIAL = re.compile(r"[|\s\x00-\x1f\x7f]")


def _link_url(url: str) -> str:
    """``url`` fit for the URL part of ``<url|text>``: Slack ends the URL at the first ``|``
    (a templated ``generator_url`` or trace link holding ``|`` set the link's text, and so
    could forge it) and a line break or space ends the link; those are percent-encoded, as in
    any URL, and ``& < >`` escaped as Slack's docs ask."""
    encoded = _LINK_URL_SPECIAL.sub(lambda m: "".join(f"%{b:02X}" for b in m.group().encode()), url)
    return slack_escape(encoded)


def _link(url: str, label: str) -> str | None:
    """A mrkdwn link, or None when the URL is too long: a cut URL would lead somewhere wrong."""
    escaped = _link_url(url)
    return f"<{escaped}|{label}>" if text_length(escaped) <= _MAX_URL else None


def _evidence_blocks(evidence: Evidence) -> list[dict[str, Any]]:
    lines = []
    if evidence.exception_type or evidence.exception_message:
        head = f"*{fit(evidence.exception_type, 200)}*" if evidence.exception_type else ""
        message = fit(evidence.exception_message, 800)
        lines.append(":warning: " + (f"{head}: {message}" if head and message else head or message))
    where = [f"`{fit(evidence.span_name, 200, _code)}`"] if evidence.span_name else []
    if evidence.route and evidence.route not in evidence.span_name:
        where.append(f"route `{fit(evidence.route, 200, _code)}`")
    if evidence.logger:
        where.append(f"logger `{fit(evidence.logger, 200, _code)}`")
    if evidence.trace_id:  # a log rule's record may be outside any trace
        trace = fit(evidence.trace_id, 64)
        link = (
            _link(evidence.trace_url, f"trace {fit(evidence.trace_id[:8], 16)}")
            if evidence.trace_url
            else None
        )
        where.append(link or f"trace {trace}")
    if where:
        lines.append(" · ".join(where))
    # At most 10 + 200 + 800 + 200 + 200 + 210 + 1200 + ~100 characters: under _MAX_TEXT by construction.
    blocks: list[dict[str, Any]] = []
    if lines:
        blocks.append({"type": "section", "text": {"type": "mrkdwn", "text": "\n".join(lines)}})
    if evidence.log_lines:
        blocks.append({"type": "section", "text": {"type": "mrkdwn", "text": _log_block(evidence.log_lines)}})
    return blocks


def _log_block(log_lines: Sequence[str]) -> str:
    """The log lines in a code block of at most _MAX_TEXT characters: whole lines (each cut to
    fit), and a last line saying how many did not fit."""
    room = _MAX_TEXT - 6 - 40  # the ``` fences and the "… N more log lines" line
    shown: list[str] = []
    for line in log_lines:
        text = fit(line, min(room, 1000), _code)
        if text_length(text) + 1 > room:
            break
        shown.append(text)
        room -= text_length(text) + 1
    left = len(log_lines) - len(shown)
    if left:
        shown.append(f"{_ELLIPSIS} {left} more log line{'s' if left > 1 else ''}")
    return "```" + "\n".join(shown) + "```"


def _summary(alert: Alert) -> str:
    return alert.annotations.get("summary") or alert.annotations.get("description") or alert.name


def _why(alert: Alert) -> str:
    """A line saying why a reload resolved the alert (its condition did not), or ""."""
    return f"\n_{fit(alert.ended_by_reload, 190)}_" if alert.ended_by_reload else ""


def _alert_blocks(alert: Alert, evidence: int = SLACK_EVIDENCE) -> list[dict[str, Any]]:
    """The blocks of one alert, with the first ``evidence`` exemplar traces."""
    icon = ":red_circle:" if alert.status == "firing" else ":large_green_circle:"
    blocks: list[dict[str, Any]] = [
        {
            "type": "header",
            "text": {
                "type": "plain_text",
                "text": _plain(f"[{alert.status.upper()}] {alert.name}", _MAX_HEADER),
            },
        },
        {
            "type": "section",
            "text": {
                "type": "mrkdwn",
                "text": f"{icon} {fit(_summary(alert), _MAX_TEXT - 230)}{_why(alert)}",
            },
        },
    ]
    fields = [
        {"type": "mrkdwn", "text": f"*{fit(k, 60)}*: {fit(v, _MAX_FIELD - 70)}"}
        for k, v in sorted(alert.labels.items())
        if k != "alertname"
    ][:_MAX_FIELDS]
    if fields:
        blocks.append({"type": "section", "fields": fields})
    for item in alert.evidence[:evidence]:
        blocks.extend(_evidence_blocks(item))
    context: list[str] = []
    source = _link(alert.generator_url, "source") if alert.generator_url else None
    if source:
        context.append(source)
    if alert.trace_ids:
        context.append("traces: " + ", ".join(fit(t, 64) for t in alert.trace_ids[:5]))
    if context:
        # At most 1200 + ~30 + 5 x 66 characters: one text object, under _MAX_TEXT by construction.
        blocks.append({"type": "context", "elements": [{"type": "mrkdwn", "text": " | ".join(context)}]})
    return blocks


def block_text_length(blocks: Sequence[dict[str, Any]]) -> int:
    """All the text in ``blocks`` (headers, sections, fields, context elements), as Slack totals it."""
    total = 0
    for block in blocks:
        texts = [block["text"]] if "text" in block else []
        texts += block.get("fields", []) + block.get("elements", [])
        total += sum(text_length(t["text"]) for t in texts)
    return total


def _more_notice(left_out: Sequence[Alert]) -> dict[str, Any]:
    """The last block when alerts were left out: how many, and their names while short."""
    counts = Counter(a.name for a in left_out)
    names: list[str] = []
    room = _MAX_NOTICE - 250
    for name, count in counts.items():
        entry = fit(name, 60) + (f" ×{count}" if count > 1 else "")
        if text_length(entry) + 2 > room:
            break
        names.append(entry)
        room -= text_length(entry) + 2
    others = len(counts) - len(names)
    listed = ", ".join(names) + (f" and {others} other name{'s' if others > 1 else ''}" if others else "")
    n = len(left_out)
    text = (
        f":heavy_plus_sign: *and {n} more alert{'s' if n > 1 else ''}* not shown, they do not fit in "
        f"one Slack message: {listed}. See Alertmanager or the other channels these alerts go to."
    )
    return {"type": "context", "elements": [{"type": "mrkdwn", "text": text}]}


def slack_payload(alerts: Sequence[Alert]) -> dict[str, Any]:
    """The message for a batch: as many whole alerts as Slack's limits allow (an alert's evidence
    is dropped before the alert), then a last line naming the alerts left out."""
    blocks: list[dict[str, Any]] = []
    left_out: Sequence[Alert] = ()
    for index, alert in enumerate(alerts):
        later = index + 1 < len(alerts)
        room_blocks = _MAX_BLOCKS - len(blocks) - (2 if later else 0)  # a divider and the notice
        room_text = _MAX_TOTAL - block_text_length(blocks) - (_MAX_NOTICE if later else 0)
        for evidence in range(min(SLACK_EVIDENCE, len(alert.evidence)), -1, -1):
            more = ([{"type": "divider"}] if blocks else []) + _alert_blocks(alert, evidence)
            if len(more) <= room_blocks and block_text_length(more) <= room_text:
                blocks.extend(more)
                break
        else:
            left_out = alerts[index:]
            break
    if left_out:
        blocks.extend([{"type": "divider"}, _more_notice(left_out)] if blocks else [_more_notice(left_out)])
    text = "; ".join(f"[{a.status.upper()}] {a.name}: {_summary(a)}" for a in alerts)
    return {"text": fit(text, _MAX_TEXT), "blocks": blocks}


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
