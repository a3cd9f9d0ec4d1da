"""Threads do not survive fork(): the child of a forking server gets its own scheduler."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import pytest

from harness import apps

PROGRAM = str(Path(__file__).parent / "programs" / "forks.py")
IMPORTS = str(Path(__file__).parent / "programs" / "health_imports.py")


def test_forked_child_runs_its_own_checks_without_the_probe_server(tmp_path: Path) -> None:
    port = apps.free_port()
    cfg = tmp_path / "otelbundle.yaml"
    cfg.write_text(
        "health:\n"
        f"  http: {{port: {port}}}\n"
        "  checks:\n"
        "    - {name: disk, kind: system, resource: disk, critical: 100%, interval: 1s, timeout: 1s}\n"
    )
    env = apps.clean_env(
        {
            "OTELBUNDLE_CONFIG": str(cfg),
            "OTEL_TRACES_EXPORTER": "none",
            "OTEL_METRICS_EXPORTER": "none",
            "OTEL_LOGS_EXPORTER": "none",
            "PROBE_PORT": str(port),
        }
    )
    result = apps.run(["python", PROGRAM], env)
    assert result.returncode == 0, result.stderr
    assert "child alive=True results=['disk'] server=False" in result.stdout, result.stdout + result.stderr
    assert "parent alive=True" in result.stdout
    assert 'parent probe {"status": "alive"}' in result.stdout


def test_the_health_threads_import_no_driver_a_fork_could_catch_mid_import(tmp_path: Path) -> None:
    """psycopg (79 modules) and psutil were imported on a worker thread at the first run: a
    gunicorn --preload master forking then left the import lock held for ever in the worker."""
    pytest.importorskip("psycopg")
    cfg = tmp_path / "otelbundle.yaml"
    cfg.write_text(
        "health:\n"
        "  checks:\n"
        "    - {name: cpu, kind: system, resource: cpu, critical: 100%, interval: 1s, timeout: 1s}\n"
        "    - {name: pg, kind: sql, driver: postgresql, dsn: 'host=127.0.0.1 port=1 user=x', timeout: 5s}\n"
    )
    result = apps.run([sys.executable, IMPORTS, str(cfg), "2"], apps.clean_env(), instrument=False)
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout.strip().splitlines()[-1])
    assert report == {"results": 2, "imports": []}, report


def test_a_python_checks_module_is_imported_at_start_not_on_a_health_thread(tmp_path: Path) -> None:
    """Imported by the first run on its worker thread, the user's module was what a fork
    could catch mid-import; at start it is imported by the thread that later forks."""
    (tmp_path / "shop_health.py").write_text("import colorsys\n\ndef payments():\n    return 'ok'\n")
    cfg = tmp_path / "otelbundle.yaml"
    cfg.write_text(
        "health:\n"
        "  checks:\n"
        "    - {name: payments, kind: python, function: 'shop_health:payments', interval: 1s, timeout: 1s}\n"
    )
    path = os.pathsep.join(p for p in (str(tmp_path), os.environ.get("PYTHONPATH", "")) if p)
    result = apps.run(
        [sys.executable, IMPORTS, str(cfg), "1"], apps.clean_env({"PYTHONPATH": path}), instrument=False
    )
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout.strip().splitlines()[-1])
    assert report == {"results": 1, "imports": []}, report
