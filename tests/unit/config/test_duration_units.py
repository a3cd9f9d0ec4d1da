"""Every unit of Prometheus' duration syntax (``ms s m h d w y``, parts combined as ``1h30m``)
reads as Prometheus reads it, in the config, in a rule file and on the command line.

``y`` was missing: ``for: 1y`` or ``--since 1y``, valid for Prometheus, was refused as
"not a duration". Prometheus' year is 365 days (``model.ParseDuration``), with no leap day.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from otelbundle.alerting.section import load_alerting_config
from otelbundle.cli.logs import parse_duration as since
from otelbundle.config import parse_duration

DAY = 86400.0


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("250ms", 0.25),
        ("15s", 15.0),
        ("5m", 300.0),
        ("2h", 7200.0),
        ("1d", DAY),
        ("1w", 7 * DAY),
        ("1y", 365 * DAY),
        ("1h30m", 5400.0),
        ("1y2w3d4h5m6s7ms", 365 * DAY + 14 * DAY + 3 * DAY + 4 * 3600 + 5 * 60 + 6 + 0.007),
        ("2y", 730 * DAY),
    ],
)
def test_each_prometheus_unit_and_their_combinations(text: str, seconds: float) -> None:
    assert parse_duration(text) == pytest.approx(seconds, rel=1e-15)
    assert since(text) == pytest.approx(seconds, rel=1e-15)


RULES = """\
groups:
  - name: g
    interval: 1h30m
    rules:
      - alert: Slow
        spans: {service: shop, where: duration > 1y}
        expr: max_duration > 1y
        window: 1w
        for: 1y
        keep_firing_for: 2w3d
"""


def test_a_rule_file_reads_years_and_weeks_everywhere_a_duration_goes(tmp_path: Path) -> None:
    (tmp_path / "r.yaml").write_text(RULES)
    (tmp_path / "otelbundle.yaml").write_text("alerting:\n  rule_files: [r.yaml]\n")
    config = load_alerting_config(str(tmp_path / "otelbundle.yaml"), {})
    assert config is not None
    (rule,) = config.rules
    assert (config.groups[0].interval, rule.window, rule.for_, rule.keep_firing_for) == (
        5400.0,
        7 * DAY,
        365 * DAY,
        17 * DAY,
    )
    assert rule.condition.threshold == 365 * DAY
