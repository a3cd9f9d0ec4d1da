"""Views: one that logs (with an object in ``extra``), one that raises, one that returns a 500."""

import logging

from django.http import HttpRequest, HttpResponse, HttpResponseServerError
from django.urls import path

log = logging.getLogger("djsite.views")


class Basket:
    """An arbitrary user object passed in ``extra``: not an OTLP attribute type."""

    def __init__(self, items: int) -> None:
        self.items = items

    def __repr__(self) -> str:
        return f"Basket(items={self.items})"


def hello(request: HttpRequest) -> HttpResponse:
    log.info("hello from django", extra={"basket": Basket(3), "request": request})
    return HttpResponse("hello")


def boom(request: HttpRequest) -> HttpResponse:
    raise RuntimeError("django view failed")


def unavailable(request: HttpRequest) -> HttpResponse:
    return HttpResponseServerError("returned, not raised")


urlpatterns = [
    path("hello/", hello),
    path("boom/", boom),
    path("unavailable/", unavailable),
]
