"""The example services with the health: sections proposed for them (docs/health.md):
inventory checks its sqlite database, storefront checks inventory over HTTP and its disk.
Stopping inventory turns storefront's check failing, visible at the OTLP receiver."""

from __future__ import annotations

import sys
from pathlib import Path

from harness import apps
from harness.otlp_receiver import OtlpReceiver

STOREFRONT = """
health:
  interval: 1s
  timeout: 1s
  checks:
    - name: inventory
      kind: http
      url: "${env:INVENTORY_URL:-http://127.0.0.1:8001}/healthz"
    - {name: disk, kind: system, resource: disk, path: /, warning: 85%, critical: 95%, hysteresis: 2%, readiness: false}
"""
INVENTORY = """
health:
  interval: 1s
  timeout: 1s
  checks:
    - name: db
      kind: sql
      driver: sqlite3
      dsn: "${env:INVENTORY_DB:-/tmp/otelbundle-inventory.db}"
      query: "SELECT count(*) FROM stock"
"""


def status(receiver: OtlpReceiver, service: str, check: str, value: float) -> bool:
    return any(
        m.name == "otelbundle.health.check.status"
        and m.service == service
        and m.attributes.get("health.check.name") == check
        and m.value == value
        for m in receiver.metrics
    )


def test_example_services_health(tmp_path: Path, otlp_receiver: OtlpReceiver) -> None:
    (tmp_path / "storefront.yaml").write_text(STOREFRONT)
    (tmp_path / "inventory.yaml").write_text(INVENTORY)
    inventory_port, storefront_port = apps.free_port(), apps.free_port()
    inventory_url = f"http://127.0.0.1:{inventory_port}"
    base = apps.clean_env(otlp_receiver.env())
    inventory = apps.start(
        [sys.executable, str(apps.EXAMPLES / "inventory" / "app.py")],
        {
            **base,
            "PORT": str(inventory_port),
            "OTEL_SERVICE_NAME": "inventory",
            "INVENTORY_DB": str(tmp_path / "inv.db"),
            "OTELBUNDLE_CONFIG": str(tmp_path / "inventory.yaml"),
        },
        tmp_path,
        name="inventory",
    )
    storefront = apps.start(
        [sys.executable, str(apps.EXAMPLES / "storefront" / "app.py")],
        {
            **base,
            "PORT": str(storefront_port),
            "OTEL_SERVICE_NAME": "storefront",
            "INVENTORY_URL": inventory_url,
            "OTELBUNDLE_CONFIG": str(tmp_path / "storefront.yaml"),
        },
        tmp_path,
        name="storefront",
    )
    try:
        inventory.wait_http(f"{inventory_url}/healthz")
        otlp_receiver.wait_for(
            lambda r: status(r, "inventory", "db", 1.0) and status(r, "storefront", "inventory", 1.0)
        )
        assert any(
            m.name == "otelbundle.health.check.status"
            and m.service == "storefront"
            and m.attributes["health.check.name"] == "disk"
            for m in otlp_receiver.metrics
        )
        # The probes themselves are not traced: no span comes from the health checks.
        probe = "SELECT count(*) FROM stock"
        assert not [
            s
            for s in otlp_receiver.spans
            if probe in (s.attributes.get("db.statement"), s.attributes.get("db.query.text"))
        ]
        assert inventory.stop() == -15, inventory.output  # the distro keeps "killed by SIGTERM"
        otlp_receiver.wait_for(lambda r: status(r, "storefront", "inventory", 0.0))
        log = otlp_receiver.wait_for(
            lambda r: [
                x
                for x in r.logs
                if x.service == "storefront"
                and x.attributes.get("health.check.name") == "inventory"
                and x.attributes.get("health.status") == "failing"
            ]
        )[0]
        assert log.body.startswith(f"health check inventory is failing: GET {inventory_url}/healthz failed: ")
    finally:
        storefront.stop()
        inventory.stop()
