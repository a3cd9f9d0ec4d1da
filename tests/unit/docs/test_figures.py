"""Figures the docs derive by arithmetic agree with the measured figures they come from.

docs/performance.md turns the per-span cost the alert-rule benchmark measured
(``on_end`` ~0.3 µs plus ~2 µs of folding per span) into CPU per second for a
service; #17 found that sentence multiplying a different per-span figure and
rounding wrongly. The sentence is found by its wording, so a rewrite that drops
it fails here too, and then this test is rewritten with it.
"""

from __future__ import annotations

import math
import re

from tests.unit.docs.markdown import ROOT

PERFORMANCE = ROOT / "docs" / "performance.md"

_DERIVED = re.compile(
    r"at (?P<rate>\d+) requests per second with (?P<spans>\d+) spans each, about (?P<ms>[\d.]+) ms of CPU "
    r"per second \((?P<percent>[\d.]+) %: (?P<total>\d+) spans × ~(?P<each>[\d.]+) µs, the ~(?P<on_end>[\d.]+) "
    r"µs of `on_end` plus the ~(?P<fold>[\d.]+) µs of folding"
)


def _text() -> str:
    return " ".join(PERFORMANCE.read_text(encoding="utf-8").split())


def test_cpu_per_second_is_the_measured_per_span_cost_times_the_span_rate() -> None:
    text = _text()
    match = _DERIVED.search(text)
    assert match, "docs/performance.md no longer has the 'requests per second with N spans each' sentence"
    rate, spans, total = int(match["rate"]), int(match["spans"]), int(match["total"])
    ms, percent, each = float(match["ms"]), float(match["percent"]), float(match["each"])
    on_end, fold = float(match["on_end"]), float(match["fold"])
    assert rate * spans == total, f"{rate} requests/s × {spans} spans is {rate * spans} spans/s, not {total}"
    assert math.isclose(each, on_end + fold, abs_tol=0.05), f"~{on_end} + ~{fold} µs is not ~{each} µs"
    assert math.isclose(ms, total * each / 1000, abs_tol=0.051), (
        f"{total} spans × {each} µs is {total * each / 1000:.2f} ms per second, not {ms}"
    )
    assert math.isclose(percent, ms / 10, abs_tol=0.0051), (
        f"{ms} ms per second is {ms / 10:.3f} %, not {percent} %"
    )
    # The two parts are the figures measured and stated above the sentence.
    before = text[: match.start()]
    assert f"(~{match['on_end']} µs)" in before, f"~{on_end} µs for on_end is not stated above"
    assert f"(~{match['fold']} µs)" in before, f"~{fold} µs per span of folding is not stated above"
