"""The example services' own behaviour, without telemetry: the integration tests and the
demo rely on these status codes, error paths and log records (storefront really calls
a running inventory over HTTP here; only OpenTelemetry is absent)."""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from flask.testing import FlaskClient
from werkzeug.serving import make_server

from examples.inventory import app as inventory
from examples.storefront import app as storefront
from harness.apps import free_port


@pytest.fixture
def inventory_url(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    monkeypatch.setattr(inventory, "DB_PATH", str(tmp_path / "inventory.db"))
    inventory.init_db()
    server = make_server("127.0.0.1", 0, inventory.app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}"
    server.shutdown()
    thread.join()


@pytest.fixture
def shop(inventory_url: str, monkeypatch: pytest.MonkeyPatch) -> FlaskClient:
    monkeypatch.setattr(storefront, "INVENTORY_URL", inventory_url)
    return storefront.app.test_client()


def stock_of(sku: str) -> Any:
    return inventory.app.test_client().get(f"/stock/{sku}").get_json()["qty"]


def errors_logged(caplog: pytest.LogCaptureFixture, logger: str) -> list[logging.LogRecord]:
    return [r for r in caplog.records if r.name == logger and r.levelno >= logging.ERROR]


def test_checkout_reserves_stock_through_inventory(
    shop: FlaskClient, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    response = shop.post("/checkout", json={"sku": "APPLE", "qty": 2})
    assert response.status_code == 200 and response.get_json()["status"] == "confirmed"
    assert stock_of("APPLE") == 118
    messages = {(r.name, r.getMessage()) for r in caplog.records}
    assert {("storefront", "checkout of 2 x APPLE"), ("inventory", "reserved 2 x APPLE")} <= messages


@pytest.mark.parametrize("how", ["sku FAIL", "?fail=1"])
def test_the_error_path_logs_exceptions_in_both_services(
    shop: FlaskClient, caplog: pytest.LogCaptureFixture, how: str
) -> None:
    caplog.set_level(logging.INFO)
    if how == "sku FAIL":
        response = shop.post("/checkout", json={"sku": "FAIL", "qty": 1})
    else:
        response = shop.post("/checkout?fail=1", json={"sku": "APPLE", "qty": 1})
    assert response.status_code == 502
    [front] = errors_logged(caplog, "storefront")
    [back] = errors_logged(caplog, "inventory")
    assert front.exc_info is not None and front.getMessage().startswith("inventory failed during checkout")
    assert back.exc_info is not None and "no_such_column" in str(back.exc_info[1])
    assert stock_of("APPLE") == 120  # the failed reservation took nothing


@pytest.mark.parametrize(
    ("body", "status"),
    [
        ({"sku": "NOPE", "qty": 1}, 404),
        ({"sku": "FIG", "qty": 4}, 409),
        ({"sku": "APPLE", "qty": 0}, 400),
        ({"sku": "APPLE", "qty": "2"}, 400),
        ({"qty": 1}, 400),
        (["APPLE"], 400),
    ],
)
def test_checkout_statuses(shop: FlaskClient, body: object, status: int) -> None:
    assert shop.post("/checkout", json=body).status_code == status
    assert stock_of("FIG") == 3


def test_products_lists_inventory(shop: FlaskClient) -> None:
    products = shop.get("/products").get_json()
    assert {p["sku"]: p["in_stock"] for p in products} == {"APPLE": True, "FIG": True, "PEAR": True}


def test_inventory_down_is_a_logged_5xx_not_a_crash(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setattr(storefront, "INVENTORY_URL", f"http://127.0.0.1:{free_port()}")
    client = storefront.app.test_client()
    assert client.get("/products").status_code == 502
    assert client.post("/checkout", json={"sku": "APPLE", "qty": 1}).status_code == 503
    assert all(r.exc_info for r in errors_logged(caplog, "storefront"))
    assert len(errors_logged(caplog, "storefront")) == 2


def test_inventory_unknown_stock_is_404(inventory_url: str) -> None:
    assert inventory.app.test_client().get("/stock/NOPE").status_code == 404


def test_app_loggers_pass_info_without_basic_config() -> None:
    """Under gunicorn no ``__main__`` block runs; INFO must still reach the root handlers."""
    assert logging.getLogger("storefront").isEnabledFor(logging.INFO)
    assert logging.getLogger("inventory").isEnabledFor(logging.INFO)
