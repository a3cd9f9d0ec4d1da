"""A FastAPI app: a route that logs (an object and the ASGI scope in ``extra``), one that raises,
one that streams its answer in chunks."""

import logging
from collections.abc import AsyncIterator

from fastapi import FastAPI, Request
from fastapi.responses import StreamingResponse

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


@app.get("/stream")
async def stream() -> StreamingResponse:
    async def chunks() -> AsyncIterator[str]:
        for number in range(5):
            yield f"chunk {number}\n"

    return StreamingResponse(chunks())
