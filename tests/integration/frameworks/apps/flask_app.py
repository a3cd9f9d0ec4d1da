"""A Flask app: a view that logs (an object in ``extra``), one that raises, a probe route."""

import logging

from flask import Flask, request

log = logging.getLogger("flask_app")
app = Flask(__name__)


class Basket:
    """An arbitrary user object passed in ``extra``."""

    def __init__(self, items: int) -> None:
        self.items = items

    def __repr__(self) -> str:
        return f"Basket(items={self.items})"


@app.get("/hello")
def hello() -> str:
    log.warning("hello from flask", extra={"basket": Basket(3), "request": request})
    return "hello"


@app.get("/boom")
def boom() -> str:
    raise RuntimeError("flask view failed")


@app.get("/healthz")
def healthz() -> str:
    return "ok"  # what a load balancer's or Kubernetes' probe asks every few seconds
