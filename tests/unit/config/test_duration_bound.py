"""Durations are bounded where they are read: past the bound is a located problem, never a run-time error.

Fuzzing rule files found ``interval: 1.0e+308``: it passed ``rules check`` (a bare
number is seconds), then every evaluation failed with ``OverflowError:
timestamp out of range``. The bound is what int64 nanoseconds hold, as in
Prometheus, which is also Python's longest thread wait.
"""

from __future__ import annotations

import sys
import threading
from pathlib import Path

import pytest
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.trace import StatusCode

from otelbundle.alerting.engine import Engine
from otelbundle.alerting.section import load_alerting_config
from otelbundle.cli import main
from otelbundle.config import MAX_DURATION_SECONDS, parse_duration

RULES = """\
groups:
  - name: g
    interval: {interval}
    rules:
      - {{alert: Errors, expr: error_count > 0, for: 0s}}
"""


def write(tmp_path: Path, interval: str) -> Path:
    (tmp_path / "r.yaml").write_text(RULES.format(interval=interval))
    config = tmp_path / "otelbundle.yaml"
    config.write_text("alerting:\n  rule_files: [r.yaml]\n")
    return config


def test_the_bound_is_int64_nanoseconds() -> None:
    assert MAX_DURATION_SECONDS == (2**63 - 1) // 10**9
    if sys.platform.startswith("linux"):
        assert MAX_DURATION_SECONDS <= threading.TIMEOUT_MAX  # the engine's thread can wait that long


@pytest.mark.parametrize("value", [1.0e308, "9223372037", "300000000000s", "106752d", "293y"])
def test_past_the_bound_is_refused_as_too_long(value: object) -> None:
    with pytest.raises(ValueError, match=r"is longer than the longest duration, 9223372036s \(292 years\)"):
        parse_duration(value)


@pytest.mark.parametrize("value", ["1.0e+308", "1e3s"])
def test_an_exponent_is_not_in_the_grammar(value: str) -> None:
    with pytest.raises(ValueError, match=r"is not a duration \(use e.g. 500ms, 15s, 1m\)"):
        parse_duration(value)


def test_at_the_bound_is_accepted() -> None:
    assert parse_duration(MAX_DURATION_SECONDS) == MAX_DURATION_SECONDS
    assert parse_duration("106751d") < MAX_DURATION_SECONDS
    assert parse_duration("292y") < MAX_DURATION_SECONDS  # y is 365d, as in Prometheus


@pytest.mark.parametrize("command", ["rules", "config"])
def test_checks_report_the_value_where_it_is(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], command: str
) -> None:
    config = write(tmp_path, "1.0e+308")
    argv = ["rules", "check", str(config)] if command == "rules" else ["config", "check", str(config)]
    assert main(argv) == 1
    err = capsys.readouterr().err
    assert f"{tmp_path}/r.yaml:3:15: interval: 1e+308 is longer than the longest duration" in err, err


def test_the_longest_interval_evaluates_without_overflow(tmp_path: Path) -> None:
    config = load_alerting_config(str(write(tmp_path, str(int(MAX_DURATION_SECONDS)))), {})
    assert config is not None

    class Sink:
        def submit(self, alerts: object) -> None:
            self.alerts = alerts

    engine = Engine(config, Sink(), clock=lambda: 1.7e9)
    provider = TracerProvider(resource=Resource.create({"service.name": "shop"}))
    provider.add_span_processor(engine.processor)
    with provider.get_tracer("t").start_as_current_span("GET /") as span:
        span.set_status(StatusCode.ERROR)
    (alert,) = engine.evaluate(1.7e9)  # endsAt = now + 4 x interval: OverflowError for 1e308
    assert alert.status == "firing" and alert.ends_at.year > 3000
    assert engine.tick() == MAX_DURATION_SECONDS
