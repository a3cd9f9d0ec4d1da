"""Threads do not survive fork(): the child of a forking server gets its own scheduler."""

from __future__ import annotations

from pathlib import Path

from harness import apps

PROGRAM = str(Path(__file__).parent / "programs" / "forks.py")


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
