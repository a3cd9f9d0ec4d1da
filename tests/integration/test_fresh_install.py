"""A newcomer's first try: install into a fresh venv, bootstrap, run.

`opentelemetry-bootstrap -a install` installs the contrib instrumentations that
match the app's libraries at the contrib version of the installed
`opentelemetry-instrumentation`. With an incoherent SDK/contrib pin this is
where it breaks (missing versions, `pip check` failures), so it is tested for
real: a fresh venv, our package built from this checkout, Flask and FastAPI.
"""

from __future__ import annotations

import os
import subprocess
import sys
import venv
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

pytestmark = pytest.mark.slow


def _run(args: list[str], **kwargs: object) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(args, capture_output=True, text=True, timeout=600, **kwargs)  # type: ignore[call-overload]
    assert result.returncode == 0, f"{' '.join(args)} failed:\n{result.stdout}\n{result.stderr}"
    return result  # type: ignore[no-any-return]


def test_fresh_venv_install_bootstrap_and_pip_check(tmp_path: Path) -> None:
    env_dir = tmp_path / "venv"
    venv.create(env_dir, with_pip=True)
    bin_dir = env_dir / "bin"
    pip = [str(bin_dir / "python"), "-m", "pip"]
    _run([*pip, "install", "-q", str(ROOT), "flask", "fastapi"])
    bootstrap = _run([str(bin_dir / "opentelemetry-bootstrap"), "-a", "install"])
    assert "ERROR" not in bootstrap.stderr.upper().replace("ERRORS: 0", "")
    _run([*pip, "check"])
    installed = _run([*pip, "list", "--format=freeze"]).stdout
    for package in ("opentelemetry-instrumentation-flask", "opentelemetry-instrumentation-fastapi"):
        assert package in installed, f"bootstrap did not install {package}"

    # The wrapper must pick our distro and configurator from the entry points.
    probe = (
        "import os; print(os.environ.get('OTEL_PYTHON_CONFIGURATOR'), os.environ.get('OTEL_SERVICE_NAME'))"
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OTEL_", "OTELBUNDLE_"))}
    env.update(
        PATH=f"{bin_dir}{os.pathsep}{env.get('PATH', '')}",
        OTEL_TRACES_EXPORTER="none",
        OTEL_METRICS_EXPORTER="none",
        OTEL_LOGS_EXPORTER="none",
    )
    out = _run([str(bin_dir / "opentelemetry-instrument"), "python", "-c", probe], env=env, cwd=tmp_path)
    assert out.stdout.split() == ["otelbundle", "python"]
    assert sys.version_info >= (3, 10)
