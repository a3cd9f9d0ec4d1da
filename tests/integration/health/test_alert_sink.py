"""Check results reach a span processor registered for alerting — and nothing else:
no synthetic span and no span of the probe's own sqlite3 query is exported."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

from harness import apps
from harness.otlp_receiver import OtlpReceiver

PROGRAM = str(Path(__file__).parent / "programs" / "alert_sink.py")


def test_results_as_spans_for_the_alert_engine_only(tmp_path: Path, otlp_receiver: OtlpReceiver) -> None:
    db = tmp_path / "inventory.db"
    sqlite3.connect(db).close()
    cfg = tmp_path / "otelbundle.yaml"
    cfg.write_text(
        "health:\n"
        "  checks:\n"
        f'    - {{name: db, kind: sql, driver: sqlite3, dsn: "{db}", interval: 500ms, timeout: 500ms}}\n'
        f'    - {{name: gone, kind: sql, driver: sqlite3, dsn: "{tmp_path}/missing.db", interval: 500ms,'
        " timeout: 500ms}\n"
    )
    env = apps.clean_env(
        {
            **otlp_receiver.env(),
            "OTELBUNDLE_CONFIG": str(cfg),
            "OTEL_SERVICE_NAME": "inventory",
            "APP_DB": str(db),
        }
    )
    result = apps.run(["python", PROGRAM], env)
    assert result.returncode == 0, result.stderr
    received = [json.loads(line) for line in result.stdout.splitlines() if line.startswith("{")]
    by_name = {r["name"]: r for r in received}
    assert by_name["health db"] == {
        "name": "health db",
        "status": "OK",
        "attributes": {
            "health.check.name": "db",
            "health.check.kind": "sql",
            "health.status": "healthy",
            "health.message": "sqlite3 answered 'SELECT 1'",
            "db.system.name": "sqlite3",
        },
        "service": "inventory",
    }
    assert by_name["health gone"]["status"] == "ERROR"
    assert by_name["health gone"]["attributes"]["health.status"] == "failing"
    # The processor got only health results, not the app's spans (it was not added to the provider).
    assert {r["name"] for r in received} == {"health db", "health gone"}
    # Exported: the app's own query, never a health span nor the probe's "SELECT 1" every 500 ms.
    otlp_receiver.wait_for(lambda r: r.spans)
    exported = [s.name for s in otlp_receiver.spans]
    assert not [n for n in exported if n.startswith("health ")]
    assert len(exported) == 1, exported
