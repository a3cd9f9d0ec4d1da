"""Prometheus itself checks the alert state machine: pending, ``for``, ``keep_firing_for``, resolve.

Random span streams go through the engine with ticks only (early evaluation off,
as Prometheus evaluates). Where the rule's condition held at each tick becomes a
0/1 series, ``cond{route=…}``, of a Prometheus rule with the same ``for`` and
``keep_firing_for``; the alerts the engine had firing at each tick become that
rule's expected alerts in a ``promtool test rules`` file. promtool evaluates the
rule as the Prometheus server does and fails on any tick where the firing sets
differ. The condition (windows over spans) is ours by design; what it drives
must be Prometheus' exactly. The early evaluations' own differential, against
these ticks, is in test_early_evaluation.py.
"""

from __future__ import annotations

import itertools
import random
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from tests.unit.alerting.test_early_evaluation import DIFF_RULES, run

pytestmark = pytest.mark.skipif(
    shutil.which("promtool") is None, reason="promtool (Debian prometheus) not installed"
)

CASES = 120
TICKS = 22
FOR = ["0s", "1500ms", "2s", "3s"]
KEEP = ["0s", "1s", "2s"]
ROUTES = ["/a", "/b"]


def _spans(rng: random.Random) -> list[tuple[float, bool, str]]:
    """Bursts and lulls: long enough runs of errors and of successes for every transition."""
    spans: list[tuple[float, bool, str]] = []
    for route in ROUTES:
        error_rate = rng.random()
        for tenth in range(0, TICKS * 10 - 20, rng.choice([2, 3, 5, 7])):
            if rng.random() < 0.15:
                error_rate = rng.random()  # the service's health changes
            spans.append((tenth / 10 + 0.05, rng.random() < error_rate, route))
    return spans


def test_firing_at_every_tick_is_what_prometheus_computes(tmp_path: Path) -> None:
    rng = random.Random(20261206)
    tests = []
    rule_files: dict[tuple[str, str], str] = {}
    transitions = 0
    for case in range(CASES):
        for_, keep = rng.choice(FOR), rng.choice(KEEP)
        rules = DIFF_RULES.format(for_=for_, keep=keep)
        ours = run(tmp_path, rules, False, _spans(rng), TICKS)
        name = rule_files.setdefault((for_, keep), f"rules-{len(rule_files)}.yaml")
        series = [
            {
                "series": f'cond_{name.split(".")[0].replace("-", "_")}{{route="{route}"}}',
                "values": " ".join("1" if (route,) in holds else "0" for holds in ours.holds_at_ticks),
            }
            for route in ROUTES
        ]
        expected = [
            {
                "eval_time": f"{tick}s",
                "alertname": f"A_{name.split('.')[0].replace('-', '_')}",
                "exp_alerts": [{"exp_labels": {"route": key[0]}} for key in sorted(firing)],
            }
            for tick, firing in enumerate(ours.firing_at_ticks)
        ]
        transitions += sum(a != b for a, b in itertools.pairwise(ours.firing_at_ticks))
        tests.append(
            {
                "name": f"case {case}: for {for_}, keep_firing_for {keep}",
                "interval": "1s",
                "input_series": series,
                "alert_rule_test": expected,
            }
        )
    for (for_, keep), name in rule_files.items():
        suffix = name.split(".")[0].replace("-", "_")
        (tmp_path / name).write_text(
            yaml.safe_dump(
                {
                    "groups": [
                        {
                            "name": f"g_{suffix}",
                            "interval": "1s",
                            "rules": [
                                {
                                    "alert": f"A_{suffix}",
                                    "expr": f"cond_{suffix} > 0",
                                    "for": for_,
                                    "keep_firing_for": keep,
                                }
                            ],
                        }
                    ]
                }
            )
        )
    test_file = tmp_path / "differential.test.yaml"
    test_file.write_text(
        yaml.safe_dump(
            {"rule_files": sorted(rule_files.values()), "evaluation_interval": "1s", "tests": tests}
        )
    )
    # The cases exercise the machine: alerts fire and resolve, under every for/keep pair.
    assert transitions > CASES, transitions
    assert len(rule_files) == len(FOR) * len(KEEP)
    result = subprocess.run(
        ["promtool", "test", "rules", test_file.name], cwd=tmp_path, capture_output=True, text=True
    )
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]
