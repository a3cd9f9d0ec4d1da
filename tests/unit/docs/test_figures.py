"""The CPU the alert rules cost a service, as docs/performance.md states it, is the figure measured.

#17 found the docs' "at 100 requests per second" sentence multiplying a different
per-span figure and rounding wrongly. It was then derived from the full-speed
span cost, which leaves out the fixed costs of each fold and was about 20x too
low; it now quotes ``bench/bench_alert_paced.py``, whose output the docs show
above it. The sentence is found by its wording, so a rewrite that drops it
fails here too, and then this test is rewritten with it.
"""

from __future__ import annotations

import re

from tests.unit.docs.markdown import ROOT

PERFORMANCE = ROOT / "docs" / "performance.md"

_STATED = re.compile(
    r"at (?P<rate>\d+) requests per second with 5 spans each, the 10 rules' engine thread uses "
    r"(?P<ms>[\d.]+) ms of CPU per second \((?P<us>[\d.]+) µs a request\)"
)
_MEASURED = re.compile(
    r"(?P<rate>\d+) requests/s x 5 spans, paced; min_fold_interval 50ms \(shipped\).*?"
    r"the engine thread: (?P<ms>[\d.]+) ms/s \((?P<us>[\d.]+) us a request\)"
)


def _text() -> str:
    return " ".join(PERFORMANCE.read_text(encoding="utf-8").split())


def test_cpu_per_second_at_a_request_rate_is_the_figure_the_paced_bench_printed() -> None:
    text = _text()
    stated = _STATED.search(text)
    assert stated, "docs/performance.md no longer has the 'requests per second with 5 spans each' sentence"
    measured = _MEASURED.search(text[: stated.start()])
    assert measured, "the bench_alert_paced.py output at the shipped min_fold_interval is not quoted above it"
    for figure in ("rate", "ms", "us"):
        assert stated[figure] == measured[figure], (
            f"the sentence says {figure} {stated[figure]}, the quoted bench output {measured[figure]}"
        )
