"""A Flask shop for the alerting e2e test: checkout raises ValueError, search answers 503.

No OpenTelemetry code: run under ``opentelemetry-instrument``. argv: the port."""

from __future__ import annotations

import logging
import sys
from typing import Any

from flask import Flask, request

log = logging.getLogger("shop")
log.setLevel(logging.INFO)
app = Flask(__name__)


@app.post("/checkout")
def checkout() -> Any:
    order = request.args.get("order", "1")
    log.info("checkout of order %s, paying with password=hunter2", order)
    raise ValueError(f"card declined for order {order}")  # Flask logs it and answers 500


@app.get("/search")
def search() -> Any:
    log.warning("search index unavailable")
    return {"error": "search unavailable"}, 503


@app.get("/healthz")
def healthz() -> Any:
    return {"status": "ok"}


if __name__ == "__main__":
    app.run(host="127.0.0.1", port=int(sys.argv[1]), threaded=True)
