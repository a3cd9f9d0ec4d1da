"""A Slack message stays within Slack's limits, and says which alerts it had to leave out.

Slack refuses the whole message when one limit is broken, and shows the blocks (not the
``text`` fallback) in the channel, so an alert cut off without a word is invisible.
"""

from __future__ import annotations

import re
from datetime import datetime, timezone
from typing import Any

import pytest

from otelbundle.alerting.alert import Alert, Evidence
from otelbundle.alerting.notify.slack import slack_payload

T0 = datetime(2026, 11, 22, 23, 0, 0, tzinfo=timezone.utc)
NASTY = "<!channel> & <http://evil|x> é 😀 `tick` "  # escaping, astral characters, backticks
LINK = re.compile(r"<[^<>|]*\|[^<>]*>")  # a mrkdwn link <url|label>, the only < > we write
BAD_ENTITY = re.compile(r"&(?!amp;|lt;|gt;)")


def length(text: str) -> int:
    """Characters as JavaScript counts them (an emoji is 2): never less than Slack's count."""
    return len(text.encode("utf-16-le")) // 2


def adversarial(i: int) -> Alert:
    evidence = tuple(
        Evidence(
            trace_id=f"{t:032x}",
            span_name="POST /checkout " + NASTY * 20,
            route="/checkout&<x>" * 40,
            exception_type="Value&Error<" * 30,
            exception_message=NASTY * 100,
            trace_url="http://jaeger/trace?a=1&b=<2>" + "z" * 500,
            log_lines=(NASTY * 40,) * 12,
        )
        for t in (1, 2, 3)
    )
    return Alert(
        labels={"alertname": f"Alert{i}", "severity": "page", "route": NASTY * 100, "a&b": "<&>" * 900},
        annotations={"summary": ("<&>" + NASTY) * 400},
        status="firing",
        starts_at=T0,
        ends_at=T0,
        generator_url="http://g/?q=" + "a&b<" * 2000,
        trace_ids=(("ab&" * 40),) * 8,
        evidence=evidence,
    )


def texts(block: dict[str, Any]) -> list[tuple[str, str]]:
    """(kind, text) of every text object in a block."""
    found = [(block["type"], block["text"]["text"])] if "text" in block else []
    found += [("field", f["text"]) for f in block.get("fields", [])]
    found += [("context", e["text"]) for e in block.get("elements", [])]
    return found


LIMIT = {"header": 150, "section": 3000, "field": 2000, "context": 3000}


@pytest.mark.parametrize("count", [12, 60])
def test_the_last_block_says_how_many_alerts_were_left_out_and_names_them(count: int) -> None:
    blocks = slack_payload([adversarial(i) for i in range(count)])["blocks"]
    shown = [b["text"]["text"].removeprefix("[FIRING] ") for b in blocks if b["type"] == "header"]
    assert shown == [f"Alert{i}" for i in range(len(shown))] and shown
    left = count - len(shown)
    last = blocks[-1]
    assert last["type"] == "context"
    notice = last["elements"][0]["text"]
    assert f"*and {left} more alerts* not shown" in notice
    assert f"Alert{len(shown)}, Alert{len(shown) + 1}" in notice
    if count == 12:
        assert all(f"Alert{i}" in notice for i in range(len(shown), count))
    else:
        assert re.search(r"and \d+ other names\.", notice)


@pytest.mark.parametrize("count", [12, 60])
def test_many_alerts_with_long_hostile_text_stay_within_slacks_limits(count: int) -> None:
    payload = slack_payload([adversarial(i) for i in range(count)])
    blocks = payload["blocks"]
    problems = [] if len(blocks) <= 50 else [f"{len(blocks)} blocks"]
    total = 0
    for block in blocks:
        if len(block.get("fields", [])) > 10 or len(block.get("elements", [])) > 10:
            problems.append(f"{block['type']}: more than 10 fields or elements")
        for kind, text in texts(block):
            total += length(text)
            if not 1 <= length(text) <= LIMIT[kind]:
                problems.append(f"{kind}: {length(text)} characters")
            if kind != "header" and BAD_ENTITY.search(text):  # plain_text is not escaped; mrkdwn is
                problems.append(f"{kind}: broken entity {text[-12:]!r}")
            if kind != "header" and re.search("[<>]", LINK.sub("", text)):
                problems.append(f"{kind}: unescaped < or >")
    # Slack's undocumented total for the blocks' text (msg_blocks_too_long) is about 12,000
    if total > 10_000:
        problems.append(f"{total} characters in all")
    if BAD_ENTITY.search(payload["text"]) or length(payload["text"]) > 3000:
        problems.append("text fallback")
    assert problems == []


def test_the_first_alerts_keep_their_evidence_and_a_later_one_may_lose_it_before_being_left_out() -> None:
    evidence = tuple(
        Evidence(f"{t:032x}", "POST /checkout", "/checkout", "ValueError", "m" * 400, "", ("line",) * 5)
        for t in (1, 2)
    )
    alerts = [
        Alert({"alertname": f"A{i}"}, {"summary": "s"}, "firing", T0, T0, evidence=evidence)
        for i in range(12)
    ]
    blocks = slack_payload(alerts)["blocks"]
    assert [b["type"] for b in blocks[:6]] == [
        "header",
        "section",
        "section",
        "section",
        "section",
        "section",
    ]
    assert ":warning: *ValueError*" in blocks[2]["text"]["text"]
    assert blocks[-1]["elements"][0]["text"].startswith(":heavy_plus_sign: *and ")


def test_all_alerts_that_fit_are_shown_without_a_notice() -> None:
    alerts = [Alert({"alertname": f"A{i}"}, {"summary": "s"}, "firing", T0, T0) for i in range(12)]
    blocks = slack_payload(alerts)["blocks"]
    assert [b["text"]["text"] for b in blocks if b["type"] == "header"] == [
        f"[FIRING] A{i}" for i in range(12)
    ]
    assert not any(b["type"] == "context" for b in blocks)


@pytest.mark.parametrize("size", range(2970, 2985))
def test_a_cut_never_splits_an_entity(size: int) -> None:
    """Cut before escaping: after it, 3000 could fall inside ``&amp;``."""
    alert = Alert({"alertname": "A"}, {"summary": "x" * size + "&" * 3000}, "firing", T0, T0)
    payload = slack_payload([alert])
    section = payload["blocks"][1]["text"]["text"]
    assert not BAD_ENTITY.search(section), section[-12:]
    assert not BAD_ENTITY.search(payload["text"]), payload["text"][-12:]
    assert length(section) <= 3000
    assert section.endswith("&amp;…") or section.endswith("x…")
    assert payload["text"].endswith("…")


def test_a_link_too_long_is_left_out_rather_than_cut() -> None:
    alert = Alert(
        {"alertname": "A"},
        {"summary": "s"},
        "firing",
        T0,
        T0,
        generator_url="http://g/?q=" + "a" * 4000,
        trace_ids=("4bf92f3577b34da6a3ce929d0e0e4736",),
    )
    context = slack_payload([alert])["blocks"][-1]
    assert context["elements"] == [{"type": "mrkdwn", "text": "traces: 4bf92f3577b34da6a3ce929d0e0e4736"}]
