"""Views: one that logs (with an object in ``extra``), one that raises, one that returns a 500,
two that raise a client error (404, 403)."""

import logging

from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseServerError
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


def missing(request: HttpRequest) -> HttpResponse:
    raise Http404("no such basket")  # what get_object_or_404 does


def forbidden(request: HttpRequest) -> HttpResponse:
    raise PermissionDenied


urlpatterns = [
    path("hello/", hello),
    path("boom/", boom),
    path("unavailable/", unavailable),
    path("missing/", missing),
    path("forbidden/", forbidden),
]
