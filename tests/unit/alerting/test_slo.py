"""SLOs in process: read with located problems, burn-rate alerts as the workbook table says."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from otelbundle.alerting.alert import Alert
from otelbundle.alerting.section import load_alerting_config
from otelbundle.alerting.slo.windows import BurnRateWindow
from otelbundle.alerting.window import CountRing
from otelbundle.config import ConfigError
from tests.unit.alerting.helpers import Sim, config_from

CHECKOUT = {"service": "storefront", "name": "POST /checkout"}
SLO = """
slos:
  - name: checkout-availability
    spans: {service: storefront, kind: server, name: "POST /checkout"}
    objective: 99%
    period: 30d
    labels: {team: shop}
"""


def slo_sim(tmp_path: Path, slos: str = SLO, rules: str = "") -> Sim:
    (tmp_path / "slos.yaml").write_text(textwrap.dedent(slos))
    files = '["slos.yaml"' + (', "rules.yaml"]' if rules else "]")
    if rules:
        (tmp_path / "rules.yaml").write_text(textwrap.dedent(rules))
    (tmp_path / "otelbundle.yaml").write_text(f"alerting:\n  rule_files: {files}\n")
    config = load_alerting_config(str(tmp_path / "otelbundle.yaml"), {})
    assert config is not None
    return Sim(config)


def firing(sim: Sim) -> dict[str, dict[str, str]]:
    """Firing burn-rate alerts by long window."""
    return {
        alert.labels["long_window"]: alert.labels
        for alerts in sim.engine.active.values()
        for alert in alerts.values()
        if alert.state == "firing"
    }


def traffic(
    sim: Sim, start: float, end: float, *, per_second: int, bad_every: int, step: float = 1.0, **span: object
) -> None:
    """``per_second`` checkouts a second from ``start`` to ``end`` (simulated seconds), every
    ``bad_every``-th an error (0: none), evaluating every ``step``."""
    t, n = start, 0
    while t < end:
        sim.now = 1_000_000.0 + t
        for _ in range(per_second):
            n += 1
            sim.span(
                error=bool(bad_every) and n % bad_every == 0, trace_id=f"{n:032x}", **{**CHECKOUT, **span}
            )  # type: ignore[arg-type]
        sim.at(t)
        t += step


def test_an_slo_becomes_one_rule_per_row_of_the_workbook_table(tmp_path: Path) -> None:
    sim = slo_sim(tmp_path)
    rules = {(g.name, r.name, r.labels["burn_rate"]) for g in sim.engine.config.groups for r in g.rules}
    assert rules == {
        ("slo:checkout-availability:page-1h", "CheckoutAvailabilityBudgetBurn", "14.4"),
        ("slo:checkout-availability:page-6h", "CheckoutAvailabilityBudgetBurn", "6"),
        ("slo:checkout-availability:ticket-3d", "CheckoutAvailabilityBudgetBurn", "1"),
    }


def test_a_20_percent_burst_pages_at_the_first_evaluation_with_labels_budget_and_trace(
    tmp_path: Path,
) -> None:
    sim = slo_sim(tmp_path)
    traffic(sim, 0, 2, per_second=10, bad_every=5)  # two seconds of 20 % errors
    fired = firing(sim)
    assert set(fired) == {"1h", "6h", "3d"}  # burn rate 20 is above 14.4, 6 and 1
    assert fired["1h"] == {
        "team": "shop",
        "slo": "checkout-availability",
        "severity": "page",
        "long_window": "1h",
        "short_window": "5m",
        "burn_rate": "14.4",
        "alertname": "CheckoutAvailabilityBudgetBurn",
    }
    sent = [a for a in sim.recorder.sent if a.labels["long_window"] == "1h"]
    assert sent and sent[0].value == pytest.approx(20.0)
    assert sent[0].annotations["summary"] == (
        "checkout-availability: error budget burning 20x as fast as the objective allows "
        "(page above 14.4x over 1h and 5m)"
    )
    assert sent[0].annotations["error_budget_remaining"] == "-1900%"  # 20 % bad against a 1 % budget
    assert all(int(trace, 16) % 5 == 0 for trace in sent[0].trace_ids)  # the failed checkouts' traces


def test_on_budget_traffic_never_alerts(tmp_path: Path) -> None:
    sim = slo_sim(tmp_path)
    traffic(sim, 0, 3600, per_second=4, bad_every=200, step=10)  # 0.5 % bad: burn rate 0.5
    assert firing(sim) == {}
    assert sim.recorder.sent == []


def test_after_a_healthy_hour_the_page_waits_for_2_percent_of_the_budget_then_stops_with_the_burst(
    tmp_path: Path,
) -> None:
    sim = slo_sim(tmp_path)
    traffic(sim, 0, 3600, per_second=5, bad_every=0, step=10)
    # 20 % bad: the 1h window reaches burn rate 14.4 after 0.72 h of burst (43 min).
    traffic(sim, 3600, 3600 + 30 * 60, per_second=5, bad_every=5, step=10)
    assert "1h" not in firing(sim)
    assert "3d" in firing(sim)  # 1x confirms in minutes
    traffic(sim, 3600 + 30 * 60, 3600 + 50 * 60, per_second=5, bad_every=5, step=10)
    assert "1h" in firing(sim)
    # The burst stops: the 5m window is clean within 5.5 minutes (its buckets are 30 s), the page resolves.
    traffic(sim, 3600 + 50 * 60, 3600 + 57 * 60, per_second=5, bad_every=0, step=10)
    assert set(firing(sim)) == {"6h", "3d"}  # the 30m and 6h short windows still hold the burst


def test_slow_spans_are_bad_with_good_if_faster_than_and_the_threshold_itself_is_good(tmp_path: Path) -> None:
    sim = slo_sim(tmp_path, SLO.replace("period: 30d", "period: 30d\n    good_if_faster_than: 800ms"))
    traffic(sim, 0, 2, per_second=10, bad_every=0, duration=0.8)  # exactly the threshold: good
    assert firing(sim) == {}
    traffic(sim, 2, 4, per_second=10, bad_every=0, duration=0.9)
    assert set(firing(sim)) == {"1h", "6h", "3d"}  # half the spans slow: burn rate 50


def test_slowness_counts_when_spans_are_decided_one_by_one_too(tmp_path: Path) -> None:
    """A where: on duration sends spans through the per-span path (batch.py); same verdicts,
    the threshold itself good (as Prometheus's ``le`` bucket counts it)."""
    slos = SLO.replace(
        'name: "POST /checkout"}', 'name: "POST /checkout", where: ["duration < 10s"]}'
    ).replace("period: 30d", "period: 30d\n    good_if_faster_than: 800ms")
    sim = slo_sim(tmp_path, slos)
    traffic(sim, 0, 2, per_second=10, bad_every=0, duration=0.8)  # exactly the threshold: good here too
    assert firing(sim) == {}
    traffic(sim, 2, 4, per_second=10, bad_every=0, duration=0.9)
    assert set(firing(sim)) == {"1h", "6h", "3d"}


def test_memory_does_not_grow_with_traffic_or_time(tmp_path: Path) -> None:
    window = BurnRateWindow(300.0, 3 * 86400.0, 30 * 86400.0)
    sizes = []
    for day in range(40):
        for hour in range(24):
            window.add_batch(1e6 + day * 86400 + hour * 3600, 1000, 3, 1.0, 0.1, None, 0.0, 7)
        sizes.append((len(window.long.ring), len(window.period.ring), len(window.short.ring)))
    assert len(set(sizes)) == 1
    totals = window.totals(1e6 + 39 * 86400 + 23 * 3600)
    # The period ring reads 30 days plus at most its oldest (1-day) bucket.
    assert 30 * 24 * 1000 <= totals.count <= 31 * 24 * 1000
    assert 3 * 24 * 1000 <= totals.long_count <= int(3.3 * 24 * 1000)


def test_count_ring_forgets_buckets_that_left_the_window() -> None:
    ring = CountRing(60.0)  # ten buckets of 6 s
    ring.add(1000.0, 5, 1)
    ring.add(1030.0, 5, 2)
    assert ring.totals(1030.0) == (10, 3)
    assert ring.totals(1061.0) == (10, 3)  # the first bucket [996, 1002) still overlaps [1001, 1061]
    assert ring.totals(1062.0) == (5, 2)
    assert ring.totals(1100.0) == (0, 0)


def reload_slo(sim: Sim, tmp_path: Path, slos: str) -> list[Alert]:
    """Reload with ``slos``; what the reload sent."""
    (tmp_path / "slos.yaml").write_text(textwrap.dedent(slos))
    config = load_alerting_config(str(tmp_path / "otelbundle.yaml"), {})
    assert config is not None
    before = len(sim.recorder.sent)
    sim.engine.reload(config)
    return sim.recorder.sent[before:]


def test_an_unchanged_slo_keeps_its_windows_across_a_reload(tmp_path: Path) -> None:
    sim = slo_sim(tmp_path)
    traffic(sim, 0, 2, per_second=10, bad_every=5)
    assert reload_slo(sim, tmp_path, SLO) == []
    assert set(firing(sim)) == {"1h", "6h", "3d"}


def test_an_edited_objective_keeps_the_windows_and_alerts_and_decides_on_the_new_budget(
    tmp_path: Path,
) -> None:
    """The objective sets the burn-rate thresholds, not what the windows count: it wiped them,
    and sent a false "resolved" saying the rule's spans changed (the spans or records it reads)."""
    sim = slo_sim(tmp_path)
    traffic(sim, 0, 2, per_second=10, bad_every=5)  # 20 % bad: burn rate 20 against a 1 % budget
    windows = {ident: state.windows for ident, state in sim.engine.states.items()}
    assert reload_slo(sim, tmp_path, SLO.replace("99%", "99.5%")) == []  # no resolution sent
    assert {ident: state.windows for ident, state in sim.engine.states.items()} == windows
    assert set(firing(sim)) == {"1h", "6h", "3d"}
    sim.at(3)
    values = {
        a.labels["long_window"]: a.value for alerts in sim.engine.active.values() for a in alerts.values()
    }
    assert values == {"1h": pytest.approx(40.0), "6h": pytest.approx(40.0), "3d": pytest.approx(40.0)}
    before = len(sim.recorder.sent)
    sim.at(62)  # the resend (resend_delay 1m) of the same alerts, described by the edited SLO
    resent = sim.recorder.sent[before:]
    assert sorted(a.labels["long_window"] for a in resent) == ["1h", "3d", "6h"]
    assert {a.status for a in resent} == {"firing"}
    assert all(a.annotations["description"].startswith("Objective: 99.5% of spans") for a in resent)


def test_an_slo_whose_spans_change_starts_afresh_saying_why(tmp_path: Path) -> None:
    sim = slo_sim(tmp_path)
    traffic(sim, 0, 2, per_second=10, bad_every=5)
    ended = reload_slo(sim, tmp_path, SLO.replace("kind: server, ", ""))
    assert [a.status for a in ended] == ["resolved"] * 3
    assert {a.ended_by_reload for a in ended} == {
        "rule changed by reload (the spans or records it reads, or what its windows keep of them): "
        "evaluated afresh, it fires again if its condition still holds"
    }


def test_an_slo_whose_period_changes_says_its_windows_changed(tmp_path: Path) -> None:
    """Not "the spans or records it reads": those are the same; the budget's window is not."""
    sim = slo_sim(tmp_path)
    traffic(sim, 0, 2, per_second=10, bad_every=5)
    ended = reload_slo(sim, tmp_path, SLO.replace("period: 30d", "period: 28d"))
    assert [a.status for a in ended] == ["resolved"] * 3
    assert {a.ended_by_reload for a in ended} == {
        "rule's windows changed by reload (their length, or an SLO's period): evaluated afresh, "
        "it fires again if its condition still holds"
    }
    assert firing(sim) == {}


def test_slos_and_groups_live_side_by_side(tmp_path: Path) -> None:
    rules = """
    groups:
      - name: g
        rules:
          - {alert: A, spans: {service: storefront}, expr: error_count > 0}
    """
    sim = slo_sim(tmp_path, rules=rules)
    assert len(sim.engine.config.rules) == 4


BAD = """\
slos:
  - name: checkout availability
    spans: {service: storefront, knd: server}
    objective: 0.99
    period: 1d
    good_if_faster_than: fast
    labels: {severity: high}
  - name: x
    objective: 100%
  - name: w
    spans: {service: storefront}
    objective: 99%
    alert: not-a-name
  - name: y
    spans: {service: storefront}
    objective: 99%
  - name: y
    spans: {service: storefront}
    objective: 99.9%
"""


def test_every_problem_of_an_slo_file_is_located(tmp_path: Path) -> None:
    (tmp_path / "slos.yaml").write_text(BAD)
    (tmp_path / "otelbundle.yaml").write_text("alerting:\n  rule_files: [slos.yaml]\n")
    with pytest.raises(ConfigError) as caught:
        load_alerting_config(str(tmp_path / "otelbundle.yaml"), {})
    lines = {str(p).replace(str(tmp_path) + "/", "") for p in caught.value.problems}
    assert lines == {
        "slos.yaml:3:34: unknown key 'knd' in spans (did you mean 'kind'?)",
        "slos.yaml:2:11: an SLO needs 'name:' (letters, digits, '-', '_', '.'), e.g. checkout-availability",
        "slos.yaml:4:16: objective 0.99 reads as 0.99% (a bare number is a percentage); "
        "write the percentage, e.g. 99%",
        "slos.yaml:5:13: period must be at least 3d, the longest burn-rate window",
        "slos.yaml:6:26: good_if_faster_than: 'fast' is not a duration (use e.g. 500ms, 15s, 1m)",
        "slos.yaml:7:14: labels: 'severity' is set by the SLO's burn-rate alerts",
        "slos.yaml:8:5: SLO x: needs 'spans:', the spans it is about (as in a rule)",
        "slos.yaml:9:16: objective '100%' must be above 0% and below 100%",
        "slos.yaml:13:12: alert must be a valid alert name, e.g. CheckoutBudgetBurn",
        "slos.yaml:17:11: duplicate SLO name 'y'",
    }


def test_a_rule_file_needs_groups_or_slos(tmp_path: Path) -> None:
    config = config_from(tmp_path, "groups: []\n")
    assert config.rules == []
    (tmp_path / "rules.yaml").write_text("slo: []\n")
    with pytest.raises(ConfigError, match="needs a top-level 'groups:' or 'slos:' list"):
        load_alerting_config(str(tmp_path / "otelbundle.yaml"), {})


def test_an_alert_name_ending_in_a_newline_is_refused(tmp_path: Path) -> None:
    """A regex's "$" lets a trailing newline through; rule names are refused so, SLO names too."""
    slos = 'slos:\n  - {name: checkout, spans: {service: storefront}, objective: 99%, alert: "Burn\\n"}\n'
    with pytest.raises(ConfigError, match="alert"):
        slo_sim(tmp_path, slos)


@pytest.mark.parametrize(
    ("objective", "problem"),
    [
        ("1", "objective 1 is ambiguous: as a ratio it is 100% (no error budget), as a percentage 1%"),
        ("1.0", "objective 1.0 is ambiguous: as a ratio it is 100% (no error budget), as a percentage 1%"),
        ("0.9", "objective 0.9 reads as 0.9% (a bare number is a percentage)"),
        ('"99.99999999999999%"', "leaves no error budget (1 - objective rounds to 0)"),
    ],
)
def test_an_objective_read_as_a_ratio_or_without_budget_is_refused_saying_why(
    tmp_path: Path, objective: str, problem: str
) -> None:
    """``objective: 1`` was read as 1 % (a budget of 99 %: no page could ever fire), and an objective
    whose budget rounds to 0 divided by zero on the first bad span (+Inf burn in Prometheus)."""
    slos = f"slos:\n  - {{name: c, spans: {{service: storefront}}, objective: {objective}}}\n"
    with pytest.raises(ConfigError) as caught:
        slo_sim(tmp_path, slos)
    (found,) = [str(p) for p in caught.value.problems]
    assert problem in found
    assert found.startswith(f"{tmp_path}/slos.yaml:2:")


def test_a_bare_number_above_1_is_understood_as_a_percentage(tmp_path: Path) -> None:
    sim = slo_sim(tmp_path, "slos:\n  - {name: c, spans: {service: storefront}, objective: 99.9}\n")
    (budget,) = {r.condition.budget for g in sim.engine.config.groups for r in g.rules}  # type: ignore[attr-defined]
    assert budget == pytest.approx(0.001)


def test_one_failed_span_is_enough_to_page_as_the_prometheus_rule_needs_one_sample(tmp_path: Path) -> None:
    sim = slo_sim(tmp_path)
    sim.span(error=True, **CHECKOUT)  # type: ignore[arg-type]
    sim.at(0)
    assert set(firing(sim)) == {"1h", "6h", "3d"}  # burn rate 100: every row, no minimum of spans


def test_the_description_states_the_objective_and_latency_as_written(tmp_path: Path) -> None:
    slos = SLO.replace("objective: 99%", "objective: 99.95%").replace(
        "period: 30d", "period: 30d\n    good_if_faster_than: 800ms"
    )
    sim = slo_sim(tmp_path, slos)
    sim.span(error=True, **CHECKOUT)  # type: ignore[arg-type]
    sim.at(0)
    sent = [a for a in sim.recorder.sent if a.labels["long_window"] == "1h"]
    assert (
        sent[0]
        .annotations["description"]
        .startswith("Objective: 99.95% of spans succeed within 800ms over 30d. ")
    )
