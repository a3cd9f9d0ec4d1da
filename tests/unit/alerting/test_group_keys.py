"""A group key tells a value from a missing attribute, for span rules as for log rules."""

from __future__ import annotations

from pathlib import Path

from tests.unit.alerting.helpers import Sim, config_from

RULES = """
groups:
  - name: g
    rules:
      - alert: PerRetry
        spans: {service: shop}
        expr: error_count > 0
        group_by: [retry, cached]
"""


def test_a_zero_or_false_attribute_is_its_own_group_not_the_missing_one(tmp_path: Path) -> None:
    """Spans with ``retry=0`` were counted with the spans lacking ``retry`` (``str(0 or "")``),
    and their alert lost the label."""
    sim = Sim(config_from(tmp_path, RULES))
    sim.span(error=True, retry=0, cached=False)
    sim.span(error=True, retry=0, cached=False)
    sim.span(error=True)  # neither attribute
    sim.span(error=True, retry=2, cached=True)
    sent = sim.at(1)
    assert sorted((a.labels.get("retry", "-"), a.labels.get("cached", "-"), a.value) for a in sent) == [
        ("-", "-", 1.0),
        ("0", "false", 2.0),
        ("2", "true", 1.0),
    ]
