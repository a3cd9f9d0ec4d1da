"""What a check says goes through the exporters' scrubbing rules before /readyz, a log record,
the alert rules' span or any sink can see it: a python check's message is the user's text."""

from __future__ import annotations

import json
import logging
import socket
import threading
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from otelbundle.health import register_sink, unregister_sink
from otelbundle.health.checks import CheckSpec
from otelbundle.health.instrumentor import HealthInstrumentor
from otelbundle.health.model import CheckResult, Status, Verdict
from otelbundle.health.scheduler import Scheduler
from otelbundle.health.server import readiness
from otelbundle.health.spans import result_span

DSN_ERROR = "postgresql://app:s3cret@db/x unreachable"


class Collected:
    def __init__(self) -> None:
        self.results: list[CheckResult] = []
        self.changed = threading.Condition()

    def __call__(self, result: CheckResult) -> None:
        with self.changed:
            self.results.append(result)
            self.changed.notify_all()

    on_result = __call__

    def wait(self, count: int) -> list[CheckResult]:
        with self.changed:
            assert self.changed.wait_for(lambda: len(self.results) >= count, 30), self.results
            return list(self.results)


class Raises:
    spec = CheckSpec("db", "python", interval_s=10, timeout_s=5)

    def run(self, previous: Status | None) -> Verdict:
        raise ConnectionError(DSN_ERROR)


class SaysToken:
    spec = CheckSpec("payments", "python", interval_s=10, timeout_s=5)

    def run(self, previous: Status | None) -> Verdict:
        return Verdict(Status.DEGRADED, "provider rejected token=ghp_abcdefghijklmnopqrstuvwxyz0123456789")


def test_a_secret_in_what_a_python_check_raises_or_returns_is_scrubbed_before_readyz() -> None:
    collected = Collected()
    scheduler = Scheduler([Raises(), SaysToken()], collected)
    scheduler.tick()
    results = {r.name: r for r in collected.wait(2)}
    assert results["db"].message == "check raised ConnectionError: postgresql://REDACTED@db/x unreachable"
    assert results["payments"].message == "provider rejected token=REDACTED"
    _, body = readiness(scheduler)
    served = json.dumps(body)
    assert "s3cret" not in served and "ghp_" not in served
    assert "s3cret" not in str(result_span(results["db"]).attributes)


@pytest.fixture
def instrumentor() -> Iterator[HealthInstrumentor]:
    instance = HealthInstrumentor()
    yield instance
    if instance.is_instrumented_by_opentelemetry:
        instance.uninstrument()


def test_the_instrumentor_scrubs_with_the_files_scrub_additions_everywhere_a_message_goes(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    instrumentor: HealthInstrumentor,
    caplog: pytest.LogCaptureFixture,
) -> None:
    module = tmp_path / "scrubbed_health_checks.py"
    module.write_text(f"def check():\n    raise ConnectionError({DSN_ERROR!r} + ' (ticket INTERNAL-4711)')\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    cfg = tmp_path / "otelbundle.yaml"
    cfg.write_text(
        "scrub:\n"
        "  extra_patterns: ['INTERNAL-\\d+']\n"
        "health:\n"
        f"  http: {{port: {port}}}\n"
        "  checks:\n"
        "    - {name: db, kind: python, function: 'scrubbed_health_checks:check'}\n"
    )
    sink = Collected()
    register_sink(sink)
    try:
        with caplog.at_level(logging.INFO, logger="otelbundle.health"):
            instrumentor.instrument(config_path=str(cfg))
            result = sink.wait(1)[0]
        with pytest.raises(urllib.error.HTTPError) as not_ready:
            urllib.request.urlopen(f"http://127.0.0.1:{port}/readyz", timeout=10)
        served = not_ready.value.read().decode()
    finally:
        unregister_sink(sink)
    assert result.message == (
        "check raised ConnectionError: postgresql://REDACTED@db/x unreachable (ticket REDACTED)"
    )
    assert json.loads(served)["checks"]["db"]["message"] == result.message
    logged = [r.getMessage() for r in caplog.records if r.name == "otelbundle.health"]
    assert logged == [f"health check db is failing: {result.message}"]
    assert "s3cret" not in caplog.text and "INTERNAL-4711" not in caplog.text
