"""The sampler step of the configurator costs the sampler only, never scrubbing, rules or queues.

Before, ``TraceIdRatioBased(1.5)`` raised inside :func:`build_components`; the
configurator then set up the plain SDK (no scrubbing, no alert rules, unbounded
queues) and left the alert engine's thread running with nothing feeding it.
"""

from __future__ import annotations

import signal
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.sdk.trace.sampling import AlwaysRecordSampler

from otelbundle.alerting.processor import AlertingSpanProcessor
from otelbundle.config import document
from otelbundle.distro import configurator
from otelbundle.distro.configurator import build_components
from otelbundle.sdk.export.bounded import BoundedSpanProcessor

RULES = "groups:\n  - name: g\n    rules:\n      - {alert: Errors, expr: error_count > 0}\n"


@pytest.fixture
def alerting_env(tmp_path: Path) -> Iterator[dict[str, str]]:
    """An ``otelbundle.yaml`` with alert rules, the process's SIGHUP and start-up document restored after."""
    (tmp_path / "rules.yaml").write_text(RULES)
    config = tmp_path / "otelbundle.yaml"
    config.write_text("alerting:\n  rule_files: [rules.yaml]\n")
    previous = signal.getsignal(signal.SIGHUP)
    document.forget_started_with()
    try:
        yield {"OTELBUNDLE_CONFIG": str(config), "OTEL_EXPORTER_OTLP_PROTOCOL": "http/protobuf"}
    finally:
        document.forget_started_with()
        signal.signal(signal.SIGHUP, previous)


def engine_threads() -> set[threading.Thread]:
    return {t for t in threading.enumerate() if t.name == "otelbundle-alert-engine" and t.is_alive()}


def test_a_ratio_above_1_keeps_rules_scrubbing_and_bounded_export(
    alerting_env: dict[str, str], capsys: pytest.CaptureFixture[str]
) -> None:
    env = {**alerting_env, "OTEL_TRACES_SAMPLER": "traceidratio", "OTEL_TRACES_SAMPLER_ARG": "1.5"}
    components = build_components(env)  # the distro's environment check did not run: the raw 1.5
    try:
        assert [type(p) for p in components.kwargs["span_processors"]] == [AlertingSpanProcessor]
        exporting = components.kwargs["export_span_processor"](InMemorySpanExporter())
        assert isinstance(exporting, BoundedSpanProcessor)
        exporting.shutdown()
        # Rules still see every span: the fallback is recorded too.
        assert isinstance(components.kwargs["sampler"], AlwaysRecordSampler)
        err = capsys.readouterr().err
        assert (
            "WARNING otelbundle: could not build the sampler OTEL_TRACES_SAMPLER='traceidratio' "
            "OTEL_TRACES_SAMPLER_ARG='1.5' (ValueError: " in err
        ), err
        assert "using parentbased_always_on, the SDK's default." in err
    finally:
        for stop in components.runtime.stoppers:
            stop()


def test_a_failure_after_the_engine_started_stops_its_thread(
    alerting_env: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    before = engine_threads()

    def broken(processor: object) -> None:
        raise RuntimeError("health registry unavailable")

    monkeypatch.setattr(configurator, "register_span_processor", broken)
    with pytest.raises(RuntimeError):
        build_components(alerting_env)  # the configurator then sets up the plain SDK
    assert engine_threads() - before == set()
