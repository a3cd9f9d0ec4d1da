"""A forked worker's alert rules start from a clean slate (Engine.after_fork_in_child)."""

from __future__ import annotations

from pathlib import Path

from tests.unit.alerting.helpers import Sim, config_from

RULES = """
groups:
  - name: g
    rules:
      - {alert: A, spans: {service: shop}, expr: error_count > 0, group_by: [http.route]}
"""


def test_a_forked_worker_forgets_the_parents_windows_and_overflow_and_still_alerts(tmp_path: Path) -> None:
    s = Sim(config_from(tmp_path, RULES, "max_group_keys: 1\n"))
    s.span(error=True, **{"http.route": "/a"})
    s.span(error=True, **{"http.route": "/b"})  # past max_group_keys: the overflow alert's
    state = s.engine.states[("g", "A")]
    assert state.overflowed_spans == 1

    s.engine.after_fork_in_child()  # called in the child, as os.register_at_fork does
    assert state.windows == {} and state.overflowed_spans == 0

    s.span(error=True, **{"http.route": "/c"})  # the child's first key: its own, not overflow
    s.span(error=True, **{"http.route": "/d"})
    assert s.engine.processor.errors == 0
    assert state.overflowed_spans == 1
    fired = {(a.labels.get("http_route"), a.labels.get("otel_overflow")) for a in s.at(1)}
    assert fired == {("/c", None), (None, "true")}  # the parent's /a is not the child's
