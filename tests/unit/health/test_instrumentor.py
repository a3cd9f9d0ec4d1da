"""instrument()/uninstrument() in-process: never raises, off without a health: section."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from otelbundle.health.instrumentor import HealthInstrumentor


@pytest.fixture
def instrumentor() -> Iterator[HealthInstrumentor]:
    instance = HealthInstrumentor()
    yield instance
    if instance.is_instrumented_by_opentelemetry:
        instance.uninstrument()


def test_dependencies_are_none() -> None:
    assert tuple(HealthInstrumentor().instrumentation_dependencies()) == ()


def test_without_health_section_nothing_starts(tmp_path: Path, instrumentor: HealthInstrumentor) -> None:
    cfg = tmp_path / "otelbundle.yaml"
    cfg.write_text("alerting: {rule_files: []}\n")
    instrumentor.instrument(config_path=str(cfg))
    assert instrumentor.scheduler is None


def test_bad_config_logs_every_problem_once_and_does_not_raise(
    tmp_path: Path, instrumentor: HealthInstrumentor, capsys: pytest.CaptureFixture[str]
) -> None:
    cfg = tmp_path / "otelbundle.yaml"
    cfg.write_text("health:\n  checks:\n    - {name: x, kind: smtp}\n  timeout: -3\n")
    instrumentor.instrument(config_path=str(cfg))
    assert instrumentor.scheduler is None
    lines = capsys.readouterr().err.splitlines()
    assert lines == [  # one line per problem, in line order, on the diagnostics logger, then the consequence
        f"ERROR {cfg}:3:23: unknown check kind 'smtp'; use one of system, tcp, http, sql, python",
        f"ERROR {cfg}:4:12: timeout: -3 must be greater than zero",
        "ERROR otelbundle: health checks are off because of 2 problem(s) in the configuration; "
        "the application continues.",
    ], lines


def test_yaml_syntax_error_is_reported_with_position(
    tmp_path: Path, instrumentor: HealthInstrumentor, capsys: pytest.CaptureFixture[str]
) -> None:
    cfg = tmp_path / "otelbundle.yaml"
    cfg.write_text("health:\n  checks: [\n")
    instrumentor.instrument(config_path=str(cfg))
    assert instrumentor.scheduler is None
    assert f"{cfg}:3:1: YAML syntax error" in capsys.readouterr().err


def test_instrument_starts_and_uninstrument_stops(tmp_path: Path, instrumentor: HealthInstrumentor) -> None:
    cfg = tmp_path / "otelbundle.yaml"
    cfg.write_text("health:\n  checks:\n    - {name: disk, kind: system, resource: disk, critical: 100%}\n")
    instrumentor.instrument(config_path=str(cfg))
    scheduler = instrumentor.scheduler
    assert scheduler is not None and scheduler.alive()
    instrumentor.uninstrument()
    assert instrumentor.scheduler is None
    assert not scheduler.alive()
