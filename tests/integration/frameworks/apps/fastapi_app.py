"""A FastAPI app: a route that logs (an object and the ASGI scope in ``extra``), one that raises."""

import logging

from fastapi import FastAPI, Request

log = logging.getLogger("fastapi_app")
app = FastAPI()


class Basket:
    """An arbitrary user object passed in ``extra``."""

    def __init__(self, items: int) -> None:
        self.items = items

    def __repr__(self) -> str:
        return f"Basket(items={self.items})"


@app.get("/hello")
async def hello(request: Request) -> dict[str, str]:
    log.warning("hello from fastapi", extra={"basket": Basket(3), "scope": request.scope})
    return {"hello": "fastapi"}


@app.get("/boom")
async def boom() -> dict[str, str]:
    raise RuntimeError("fastapi route failed")
