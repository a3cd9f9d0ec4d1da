"""The hooks the distro gives the contrib framework instrumentors never raise into a request."""

from __future__ import annotations

from typing import Any

from otelbundle.distro import frameworks


class Broken:
    def is_recording(self) -> bool:
        raise RuntimeError("a span that fails")


def test_flask_hook_outside_a_request_or_with_a_broken_span_does_not_raise() -> None:
    environ: dict[str, Any] = {"REQUEST_METHOD": "GET"}
    frameworks.flask_request_hook(Broken(), environ)  # no request context: flask.request raises


def test_the_callers_options_win_and_others_get_none() -> None:
    assert set(frameworks.instrumentor_options("flask")) == {"request_hook", "response_hook"}
    assert set(frameworks.instrumentor_options("django")) == {"request_hook"}
    assert frameworks.instrumentor_options("fastapi")["exclude_spans"] == ["receive", "send"]
    assert set(frameworks.instrumentor_options("starlette")) == {"server_request_hook"}
    assert frameworks.instrumentor_options("requests") == {}


def test_django_hook_with_a_broken_span_does_not_raise() -> None:
    frameworks.django_request_hook(Broken(), object())


def test_stable_http_reads_the_opt_in_list() -> None:
    assert frameworks.stable_http({"OTEL_SEMCONV_STABILITY_OPT_IN": "database, http"})
    assert frameworks.stable_http({"OTEL_SEMCONV_STABILITY_OPT_IN": "http/dup"})
    assert not frameworks.stable_http({"OTEL_SEMCONV_STABILITY_OPT_IN": "database"})
    assert not frameworks.stable_http({})


def test_the_django_middleware_is_not_added_without_the_opentelemetry_one() -> None:
    from otelbundle.distro import django_status

    # Unconfigured settings (no DJANGO_SETTINGS_MODULE) raise inside: no exception escapes.
    assert django_status.add_client_error_middleware() is False


class Recorded:
    def __init__(self, **attributes: Any) -> None:
        self.attributes = dict(attributes)

    def is_recording(self) -> bool:
        return True

    def set_attribute(self, key: str, value: Any) -> None:
        self.attributes[key] = value


def test_server_address_keeps_the_host_of_the_host_header() -> None:
    cases = {"127.0.0.1:8000": "127.0.0.1", "[::1]:8000": "::1", "shop.example:443": "shop.example"}
    for given, wanted in {**cases, "shop.example": "shop.example", "::1": "::1"}.items():
        span = Recorded(**{"server.address": given})
        frameworks.asgi_server_request_hook(span, {})
        assert span.attributes["server.address"] == wanted, given
        span = Recorded(**{"server.address": given})
        frameworks.flask_response_hook(span, "200 OK", [])
        assert span.attributes["server.address"] == wanted, given
    unset = Recorded()
    frameworks.asgi_server_request_hook(unset, {})
    assert unset.attributes == {}


def test_asgi_and_flask_response_hooks_with_a_broken_span_do_not_raise() -> None:
    frameworks.asgi_server_request_hook(Broken(), {})
    frameworks.flask_response_hook(Broken(), "200 OK", [])
    frameworks.flask_response_hook(None, "200 OK", [])
