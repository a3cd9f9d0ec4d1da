"""The entry points and the console script resolve to the modules that now hold them."""

from __future__ import annotations

import subprocess
import sys
from importlib.metadata import entry_points

import pytest

from otelbundle.distro.configurator import OtelBundleConfigurator
from otelbundle.distro.defaults import OtelBundleDistro
from otelbundle.health.instrumentor import HealthInstrumentor
from otelbundle.sdk.logs.correlation import after_instrumentation

EXPECTED = {
    ("opentelemetry_distro", "otelbundle"): OtelBundleDistro,
    ("opentelemetry_configurator", "otelbundle"): OtelBundleConfigurator,
    ("opentelemetry_instrumentor", "otelbundle_health"): HealthInstrumentor,
    ("opentelemetry_post_instrument", "otelbundle_logs"): after_instrumentation,
}


@pytest.mark.parametrize(("group", "name"), sorted(EXPECTED))
def test_entry_point_loads(group: str, name: str) -> None:
    (point,) = [p for p in entry_points(group=group) if p.name == name]
    assert point.load() is EXPECTED[(group, name)]


def test_console_script_and_module_run() -> None:
    (point,) = [p for p in entry_points(group="console_scripts") if p.name == "otelbundle"]
    assert point.value == "otelbundle.cli:main"
    result = subprocess.run(
        [sys.executable, "-m", "otelbundle.cli", "--version"], capture_output=True, text=True, check=True
    )
    assert result.stdout.startswith("otelbundle ")
