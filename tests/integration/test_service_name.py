"""The service name the distro derives, under the real ``opentelemetry-instrument``.

The unit tests feed ``program_service_name`` argument lists; only a real
interpreter shows what ``sys.argv`` holds when the wrapper's ``sitecustomize``
runs (for ``-m`` it lacks the module's name), so each row of the table in
docs/configuration.md ("Service name") is started here as a user would.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from harness.apps import BIN, clean_env

# Prints the service.name of the resource the SDK was configured with.
REPORT = (
    "from opentelemetry import trace\n"
    "print('SERVICE_NAME=' + str(trace.get_tracer_provider().resource.attributes.get('service.name')))\n"
)


def _write(root: Path, relative: str, text: str) -> None:
    path = root / relative
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)


@pytest.mark.parametrize(
    ("command", "expected"),
    [
        (["-m", "pkg.worker"], "pkg.worker"),
        (["-m", "pkg.worker", "--queue", "high"], "pkg.worker"),
        (["-X", "dev", "-m", "pkg.worker"], "pkg.worker"),
        (["checkout.py"], "checkout"),
        (["services/storefront/app.py"], "storefront"),
    ],
)
def test_service_name_from_how_the_program_was_started(
    tmp_path: Path, command: list[str], expected: str
) -> None:
    _write(tmp_path, "pkg/__init__.py", "")
    _write(tmp_path, "pkg/worker.py", REPORT)
    _write(tmp_path, "checkout.py", REPORT)
    _write(tmp_path, "services/storefront/app.py", REPORT)
    env = clean_env(
        {"OTEL_TRACES_EXPORTER": "none", "OTEL_METRICS_EXPORTER": "none", "OTEL_LOGS_EXPORTER": "none"}
    )
    result = subprocess.run(
        [str(BIN / "opentelemetry-instrument"), sys.executable, *command],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    assert f"SERVICE_NAME={expected}\n" in result.stdout, (
        f"expected service.name {expected!r} for `python {' '.join(command)}`; "
        f"stdout: {result.stdout!r}, stderr: {result.stderr!r}"
    )
    assert f"using {expected!r} from the program name" in result.stderr, result.stderr
