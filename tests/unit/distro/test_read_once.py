"""``otelbundle.yaml`` is opened once when an app starts with alerting, health and scrub sections.

The configurator reads the document and hands each part its section; the health
instrumentor, loaded after it, takes the same document. Before, each part re-read
the file from its path: 4 opens.
"""

from __future__ import annotations

import builtins
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from otelbundle.config import document
from otelbundle.distro.configurator import build_components
from otelbundle.health.instrumentor import HealthInstrumentor

CONFIG = """\
alerting:
  rule_files: [rules.yaml]
health:
  interval: 1h
  checks:
    - {name: disk, kind: system, resource: disk, path: /, warning: 99%, critical: 100%}
scrub:
  extra_patterns: ["secret-[0-9]+"]
"""
RULES = """\
groups:
  - name: g
    rules:
      - {alert: Errors, expr: error_count > 0}
"""


@pytest.fixture
def opens(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[str]]:
    """Every path opened while the test runs."""
    seen: list[str] = []
    real_open = builtins.open

    def counting_open(file: Any, *args: Any, **kwargs: Any) -> Any:
        seen.append(str(file))
        return real_open(file, *args, **kwargs)

    monkeypatch.setattr(builtins, "open", counting_open)
    yield seen


def test_the_config_file_is_opened_once_at_start(tmp_path: Path, opens: list[str]) -> None:
    config = tmp_path / "otelbundle.yaml"
    config.write_text(CONFIG)
    (tmp_path / "rules.yaml").write_text(RULES)
    env = {"OTELBUNDLE_CONFIG": str(config)}
    document.forget_started_with()
    components = build_components(env)
    instrumentor = HealthInstrumentor()
    try:
        instrumentor.instrument(config_path=str(config))
        # every part is on: rules, scrubbing additions, a health check
        assert len(components.span_processors) == 1
        assert instrumentor.scheduler is not None
        assert document.started_with(str(config)) is not None
        assert opens.count(str(config)) == 1, opens
        assert opens.count(str(tmp_path / "rules.yaml")) == 1
    finally:
        instrumentor.uninstrument()
        for stop in components.runtime.stoppers:
            stop()
        document.forget_started_with()


def test_without_the_configurator_the_instrumentor_reads_the_file_itself(
    tmp_path: Path, opens: list[str]
) -> None:
    config = tmp_path / "otelbundle.yaml"
    config.write_text(CONFIG.replace("rule_files: [rules.yaml]", "{}"))
    document.forget_started_with()
    instrumentor = HealthInstrumentor()
    try:
        instrumentor.instrument(config_path=str(config))
        assert instrumentor.scheduler is not None
        assert opens.count(str(config)) == 1
    finally:
        instrumentor.uninstrument()
