"""Storefront: a small Flask service that calls the inventory service with ``requests``.
No OpenTelemetry code: under ``opentelemetry-instrument`` one checkout is one trace
across both services, with the logs of both joined to it."""

from __future__ import annotations

import logging
import os
from typing import Any

import requests
from flask import Flask, jsonify, request

# A fixed name rather than __name__: run as a script, __name__ is "__main__".
log = logging.getLogger("storefront")
# The app's own records are INFO and up, also under gunicorn, where no basicConfig runs and the
# root logger's WARNING level would otherwise drop them before any handler sees them.
log.setLevel(os.environ.get("LOG_LEVEL", "INFO").upper())
INVENTORY_URL = os.environ.get("INVENTORY_URL", "http://127.0.0.1:8001")

app = Flask(__name__)
session = requests.Session()


def order_from(body: Any) -> tuple[str, int] | None:
    """(sku, qty) from a checkout body, or None when it is not a positive whole quantity of a sku."""
    if not isinstance(body, dict):
        return None
    sku, qty = body.get("sku"), body.get("qty", 1)
    if not isinstance(sku, str) or not sku or isinstance(qty, bool) or not isinstance(qty, int) or qty < 1:
        return None
    return sku, qty


@app.get("/healthz")
def healthz() -> Any:
    return {"status": "ok"}


@app.get("/products")
def products() -> Any:
    try:
        response = session.get(f"{INVENTORY_URL}/stock", timeout=5)
        response.raise_for_status()
    except requests.RequestException:
        log.exception("cannot list products: inventory failed")
        return {"error": "inventory unavailable"}, 502
    items = response.json()
    log.info("showing %d products", len(items))
    return jsonify(
        [{"sku": i["sku"], "name": i["name"], "price": i["price"], "in_stock": i["qty"] > 0} for i in items]
    )


@app.post("/checkout")
def checkout() -> Any:
    """Reserve stock for one order. ``?fail=1`` asks inventory to take its error path."""
    order = order_from(request.get_json(silent=True))
    if order is None:
        log.warning("rejected checkout with body %r", request.get_data(as_text=True)[:200])
        return {"error": 'expected JSON {"sku": "<sku>", "qty": <positive integer>}'}, 400
    sku, qty = order
    log.info("checkout of %d x %s", qty, sku)
    params = {"fail": "1"} if request.args.get("fail") == "1" else None
    try:
        response = session.post(
            f"{INVENTORY_URL}/reserve", json={"sku": sku, "qty": qty}, params=params, timeout=5
        )
        response.raise_for_status()
    except requests.HTTPError as exc:
        status = exc.response.status_code if exc.response is not None else None
        if status == 409:
            log.warning("out of stock: %s", sku)
            return {"error": "out of stock", "sku": sku}, 409
        if status == 404:
            log.warning("checkout of unknown sku %s", sku)
            return {"error": "unknown sku", "sku": sku}, 404
        log.exception("inventory failed during checkout of %s", sku)
        return {"error": "inventory unavailable"}, 502
    except requests.RequestException:
        log.exception("inventory unreachable during checkout of %s", sku)
        return {"error": "inventory unreachable"}, 503
    return {"order": {"sku": sku, "qty": qty}, "status": "confirmed"}


if __name__ == "__main__":
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    app.run(host=os.environ.get("HOST", "127.0.0.1"), port=int(os.environ.get("PORT", "8000")), threaded=True)
