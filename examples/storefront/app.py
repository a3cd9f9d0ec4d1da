"""Storefront: a small Flask service that calls the inventory service with ``requests``.
No OpenTelemetry code: under ``opentelemetry-instrument`` one checkout is one trace
across both services, with the logs of both joined to it."""

from __future__ import annotations

import logging
import os
from typing import Any

import requests
from flask import Flask, jsonify, request

log = logging.getLogger("storefront")
INVENTORY_URL = os.environ.get("INVENTORY_URL", "http://127.0.0.1:8001")

app = Flask(__name__)
session = requests.Session()


@app.get("/healthz")
def healthz() -> Any:
    return {"status": "ok"}


@app.get("/products")
def products() -> Any:
    response = session.get(f"{INVENTORY_URL}/stock", timeout=5)
    response.raise_for_status()
    items = response.json()
    log.info("showing %d products", len(items))
    return jsonify(
        [{"sku": i["sku"], "name": i["name"], "price": i["price"], "in_stock": i["qty"] > 0} for i in items]
    )


@app.post("/checkout")
def checkout() -> Any:
    body = request.get_json(silent=True) or {}
    sku, qty = str(body.get("sku", "")), int(body.get("qty", 1))
    log.info("checkout of %d x %s", qty, sku)
    try:
        response = session.post(f"{INVENTORY_URL}/reserve", json={"sku": sku, "qty": qty}, timeout=5)
        response.raise_for_status()
    except requests.HTTPError as exc:
        if exc.response is not None and exc.response.status_code == 409:
            log.warning("out of stock: %s", sku)
            return {"error": "out of stock", "sku": sku}, 409
        log.exception("inventory failed during checkout of %s", sku)
        return {"error": "inventory unavailable"}, 502
    except requests.RequestException:
        log.exception("inventory unreachable during checkout of %s", sku)
        return {"error": "inventory unreachable"}, 503
    return {"order": {"sku": sku, "qty": qty}, "status": "confirmed"}


if __name__ == "__main__":
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    app.run(host=os.environ.get("HOST", "127.0.0.1"), port=int(os.environ.get("PORT", "8000")), threaded=True)
