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
    assert set(frameworks.instrumentor_options("flask")) == {"request_hook"}
    assert set(frameworks.instrumentor_options("django")) == {"request_hook"}
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
