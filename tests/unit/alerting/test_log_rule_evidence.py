"""A log rule's notification quotes its own matching records, whether or not a span rule exists.

Evidence used to be built only from the spans span rules had seen: a log rule (no span of
its own) alerted with its summary alone, unless a span rule happened to see the same trace.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from otelbundle.alerting.alert import Alert
from otelbundle.cli.ruletest import run_test_file
from otelbundle.scrub import Scrubber
from tests.unit.alerting.helpers import Sim, config_from
from tests.unit.alerting.test_evidence import everything_sent, secret_of, variants
from tests.unit.alerting.test_log_rules import RULES, emit
from tests.unit.scrub.test_rules import CAUGHT

LINK = 'generator_url: "http://jaeger/trace/{{ $exemplar.trace_id }}"\n'
TRACE = 0x4BF92F3577B34DA6A3CE929D0E0E4736
DEADLOCK = {"exception.type": "DeadlockDetected", "exception.message": "deadlock on table orders"}


def log_sim(tmp_path: Path, scrubber: Scrubber | None = None) -> Sim:
    sim = Sim(config_from(tmp_path, RULES, LINK))  # RULES has log rules only: no span rule
    sim.engine.scrubber = scrubber if scrubber is not None else Scrubber()
    return sim


def fired(sim: Sim, at: float = 1) -> Alert:
    (alert,) = [a for a in sim.at(at) if a.status == "firing"]
    return alert


def test_a_log_rule_alert_quotes_its_record_its_logger_trace_link_and_the_traces_lines(
    tmp_path: Path,
) -> None:
    sim = log_sim(tmp_path)
    emit(sim, "INFO", "reserving stock for order 42", logger="payments.api", trace_id=TRACE)
    for _ in range(3):
        emit(sim, trace_id=TRACE, **DEADLOCK)
    alert = fired(sim)
    (evidence,) = alert.evidence  # one trace: one piece of evidence
    assert evidence.trace_id == f"{TRACE:032x}"
    assert evidence.trace_url == f"http://jaeger/trace/{TRACE:032x}"
    assert evidence.exception == "DeadlockDetected: deadlock on table orders"
    assert evidence.logger == "payments.db" and evidence.span_name == ""
    assert [line.split(" ", 1)[1] for line in evidence.log_lines] == [
        "INFO payments.api: reserving stock for order 42",  # the trace's other lines, from the ring
        "ERROR payments.db: deadlock detected (DeadlockDetected)",
        "ERROR payments.db: deadlock detected (DeadlockDetected)",
        "ERROR payments.db: deadlock detected (DeadlockDetected)",
    ]
    annotations = alert.annotations_with_evidence
    assert annotations["exception"] == "DeadlockDetected: deadlock on table orders"
    assert annotations["logger"] == "payments.db"
    assert annotations["trace_url"] == evidence.trace_url
    slack = str(everything_sent(alert))
    assert "logger `payments.db`" in slack and "DeadlockDetected" in slack


def test_a_record_outside_any_trace_is_quoted_by_itself(tmp_path: Path) -> None:
    sim = log_sim(tmp_path)
    for n in range(3):
        emit(sim, body=f"deadlock detected in batch {n}")
    alert = fired(sim)
    assert alert.trace_ids == ()
    assert [(e.trace_id, e.trace_url, e.logger) for e in alert.evidence] == [("", "", "payments.db")] * 3
    assert [e.log_lines[0].split(" ", 1)[1] for e in alert.evidence] == [
        "ERROR payments.db: deadlock detected in batch 2",  # newest first
        "ERROR payments.db: deadlock detected in batch 1",
        "ERROR payments.db: deadlock detected in batch 0",
    ]
    sent = everything_sent(alert)
    assert "deadlock detected in batch 2" in sent
    assert "trace \\u2026" not in sent and '"trace_url"' not in sent  # no empty trace link anywhere


def test_the_record_is_quoted_even_when_its_trace_logged_much_more_after_it(tmp_path: Path) -> None:
    sim = log_sim(tmp_path)
    for _ in range(3):
        emit(sim, body="deadlock detected first", trace_id=TRACE)
    for n in range(10):
        emit(sim, "INFO", f"retry {n}", logger="payments.api", trace_id=TRACE)
    lines = fired(sim).evidence[0].log_lines
    assert len(lines) == 5 and "deadlock detected first" in lines[0] and "retry 9" in lines[-1]


def test_without_a_scrubber_a_log_rule_quotes_no_free_text(tmp_path: Path) -> None:
    sim = Sim(config_from(tmp_path, RULES, LINK))  # no scrubber: evidence.py leaves free texts out
    for _ in range(3):
        emit(sim, body="deadlock for card 4111 1111 1111 1111", trace_id=TRACE, **DEADLOCK)
    (evidence,) = fired(sim).evidence
    assert (evidence.exception_type, evidence.trace_url) == (
        "DeadlockDetected",
        f"http://jaeger/trace/{TRACE:032x}",
    )
    assert (evidence.exception_message, evidence.log_lines, evidence.logger) == ("", (), "")


@pytest.mark.parametrize(("raw", "scrubbed"), CAUGHT)
def test_no_secret_in_a_log_rules_record_reaches_a_channel(tmp_path: Path, raw: str, scrubbed: str) -> None:
    """The scrub tests' secrets in a matching record's body and exception message, and in
    another line of its trace: none reaches any channel."""
    secret = secret_of(raw, Scrubber().text(raw))
    sim = log_sim(tmp_path)
    emit(sim, "INFO", raw, logger="payments.api", trace_id=TRACE)
    for _ in range(3):
        emit(
            sim,
            body=f"deadlock detected {raw}",
            trace_id=TRACE,
            **{"exception.type": "Deadlock", "exception.message": raw},
        )
    alert = fired(sim)
    assert alert.evidence and alert.evidence[0].log_lines
    sent = re.sub(r"[0-9a-f]{16,32}", "<id>", everything_sent(alert))
    assert [variant for variant in variants(secret) if variant in sent] == []


def test_rules_test_expects_a_log_rules_evidence(tmp_path: Path) -> None:
    (tmp_path / "rules.yaml").write_text(
        "groups:\n  - name: logs\n    rules:\n      - alert: Deadlocks\n"
        '        logs: {service: payments, severity: ">= ERROR"}\n        expr: count > 2\n        window: 1m\n'
    )
    (tmp_path / "rules.test.yaml").write_text(
        "rule_files: [rules.yaml]\nevaluation_interval: 1s\ntests:\n  - interval: 1s\n    input_records:\n"
        "      - records: {service: payments, logger: payments.db, attributes: {exception.type: Deadlock}}\n"
        "        values: 'ERROR \"deadlock detected\" x5'\n    alert_rule_test:\n"
        "      - eval_time: 4s\n        alertname: Deadlocks\n        exp_alerts:\n"
        "          - exp_annotations: {logger: payments.db, exception: Deadlock}\n"
    )
    assert run_test_file(str(tmp_path / "rules.test.yaml"), {}) == []
