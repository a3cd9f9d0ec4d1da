"""Under opentelemetry-instrument a python check's module is imported once every instrumentor is
loaded: a module that makes its Flask app at import (``target: shop.health:check`` in a package
whose ``__init__`` creates the app) gets an instrumented app, as the application's own import does.
Imported while the health instrumentor loaded, before the Flask instrumentor (entry-point order),
it made a plain ``Flask`` whose requests were never traced."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

from harness import apps

# The app: under the wrapper, or configuring itself (configure() loads the instrumentors).
APPS = {
    "opentelemetry-instrument": "import time\ntime.sleep(2)\nprint('APP DONE', flush=True)\n",
    "otelbundle.configure()": (
        "import time\nimport otelbundle\notelbundle.configure()\ntime.sleep(2)\nprint('APP DONE', flush=True)\n"
    ),
}


@pytest.mark.parametrize("started_by", list(APPS))
def test_a_python_checks_module_sees_every_instrumentor_loaded(tmp_path: Path, started_by: str) -> None:
    seen = tmp_path / "flask-class.txt"
    (tmp_path / "shop_health.py").write_text(
        "import os\n"
        "import threading\n"
        "import flask\n"
        "with open(os.environ['SEEN'], 'w') as out:\n"
        "    out.write(flask.Flask.__name__ + ' ' + threading.current_thread().name)\n"
        "app = flask.Flask('shop')\n\n"
        "def check():\n"
        "    return 'ok'\n"
    )
    cfg = tmp_path / "otelbundle.yaml"
    cfg.write_text(
        "health:\n"
        "  checks:\n"
        "    - {name: shop, kind: python, function: 'shop_health:check', interval: 1s, timeout: 1s}\n"
    )
    (tmp_path / "app.py").write_text(APPS[started_by])
    path = os.pathsep.join(p for p in (str(tmp_path), os.environ.get("PYTHONPATH", "")) if p)
    env = apps.clean_env(
        {
            "PYTHONPATH": path,
            "SEEN": str(seen),
            "OTELBUNDLE_CONFIG": str(cfg),
            "OTEL_TRACES_EXPORTER": "none",
            "OTEL_METRICS_EXPORTER": "none",
            "OTEL_LOGS_EXPORTER": "none",
        }
    )
    wrapped = started_by == "opentelemetry-instrument"
    result = apps.run([sys.executable, str(tmp_path / "app.py")], env, instrument=wrapped)
    assert result.returncode == 0 and "APP DONE" in result.stdout, result.stderr
    # Instrumented, and imported by the starting thread, not a health worker a fork could catch.
    assert seen.read_text() == "_InstrumentedFlask MainThread", result.stderr
